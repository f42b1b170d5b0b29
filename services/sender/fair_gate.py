"""Shares each sender number's send budget among running campaigns by priority weight.

The limiter decides *when* the next send may happen; this gate decides *whose*
it is. Every command ready to send waits here in its campaign's lane; one loop
per sender number takes a free Twilio request slot and a limiter grant, then
hands both to the lane furthest behind its share. That is stride scheduling:
each grant advances a lane's pass by 1/weight and the lowest pass goes next, so
over any stretch of time campaigns get grants in proportion to their weights
and none starves. A lane that appears (a new campaign, or one that ran dry)
starts at the current pass: it gets its share from now on, not a burst for the
time it was absent.

Before a grant is handed over, the lane's campaign must still be sendable: the
waiters of a paused or stopped campaign are woken without a grant, to be held
back or cancelled, so a pause spends no send slots.

Grants are asked for in groups: as many waiters as there are free request slots
are chosen in stride order, and one limiter script grants what the windows allow
and takes each granted send's ledger claim, so a send costs no round trip of its
own between its grant and its request. Waiters the limiter could not serve yet go
back to the front of their lanes, their passes as they were.

A send that goes out later than its grant's score says so (`sending`); the gate gathers
those corrections for a moment and hands them to the limiter in one round trip, without
holding up the send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from services.sender.coalesce import Coalescer
from services.sender.ledger import ClaimRequest
from services.sender.limiter import EARLY_GRANT_MS, Grant, SlidingWindowLimiter
from shared.events.models import Priority
from shared.metrics import LIMITER_WAIT_SECONDS
from shared.priority import weight

log = logging.getLogger(__name__)

# Passes of lanes that ran dry are remembered until there are this many.
_FORGET_PASSES_ABOVE = 10_000
# A send this late or later than its grant's score has its log entry corrected; below
# it the correction is smaller than the clock's jitter.
CORRECT_LATE_FROM_MS = 1.0
# Corrections gathered this long go to Redis together. The grant a correction matters
# to comes one window (at least a second) after the late send.
CORRECTIONS_GATHERED_S = 0.05

Sendable = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Turn:
    """A waiter's answer. ``granted``: a limiter grant and a request slot are held, and
    ``claim_raw`` is the claim taken with them (when one was asked for). Not granted:
    the campaign stopped being sendable, or ``claim_lost`` (someone else changed the
    ledger entry first: do not send)."""

    granted: bool
    claim_raw: str | None = None
    claim_lost: bool = False
    # The grant's log entry (for `sending`), and the loop time its send is due at:
    # ``turn`` waits until then before yielding.
    member: str | None = None
    due: float = 0.0


NOT_SENDABLE = Turn(False)


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[Turn]
    claim: ClaimRequest | None


@dataclass(slots=True)
class _Lane:
    campaign_id: str
    weight: int
    pass_: float
    waiters: deque[_Waiter] = field(default_factory=deque)


@dataclass(slots=True)
class _NumberQueue:
    lanes: dict[str, _Lane] = field(default_factory=dict)
    # The pass of the last lane served: where a new lane starts.
    current_pass: float = 0.0
    ran_dry: dict[str, float] = field(default_factory=dict)
    server: asyncio.Task[None] | None = None
    # Gathers the (log entry, ms late) of sends that went out late; None when the
    # number's limiter is not corrected (see SlidingWindowLimiter.corrects).
    corrections: Coalescer[tuple[str, float], bool] | None = None

    def next_lane(self) -> _Lane | None:
        live = [lane for lane in self.lanes.values() if lane.waiters]
        return min(live, key=lambda lane: lane.pass_) if live else None


class FairGate:
    """The lanes of every sender number and the loops that hand out their grants.

    Longer than most classes on purpose: waiting, choosing by stride and granting in
    groups share the lanes and the request slots, and the module docstring's order
    (a slot, then a grant, then the lane furthest behind) holds only if one object
    owns all three.
    """

    def __init__(
        self, limiter: SlidingWindowLimiter, sendable: Sendable, max_concurrent: int
    ) -> None:
        self._limiter = limiter
        self._sendable = sendable
        # Twilio requests in flight from this replica.
        self._request_slots = asyncio.Semaphore(max_concurrent)
        self._queues: dict[str, _NumberQueue] = {}

    def waiting(self, campaign_id: str | None = None) -> int:
        """Commands waiting for a grant (of one campaign, or all), for probes and tests."""
        return sum(
            len(lane.waiters)
            for queue in self._queues.values()
            for lane in queue.lanes.values()
            if campaign_id is None or lane.campaign_id == campaign_id
        )

    @asynccontextmanager
    async def turn(
        self,
        number: str,
        campaign_id: str,
        priority: Priority,
        *,
        retry: bool = False,
        claim: ClaimRequest | None = None,
    ) -> AsyncIterator[Turn]:
        """Wait for this campaign's fair turn on ``number``.

        Yields a granted Turn holding a limiter grant and a request slot (released on
        exit), with ``claim`` taken; or a Turn not granted when the campaign stopped
        being sendable while waiting, or when the claim was lost. A retry goes to the
        front of its campaign's lane: its backoff was its wait, and behind the
        campaign's whole read-ahead it would wait minutes more.
        """
        started = time.perf_counter()
        turn = await self._wait(number, campaign_id, weight(priority), retry, claim)
        if not turn.granted:
            yield turn
            return
        try:
            ahead_s = turn.due - asyncio.get_running_loop().time()
            if ahead_s > 0:
                await asyncio.sleep(ahead_s)  # the send goes at its grant's score
        except BaseException:
            self._request_slots.release()
            raise
        LIMITER_WAIT_SECONDS.observe(time.perf_counter() - started)
        try:
            yield turn
        finally:
            self._request_slots.release()

    def sending(self, number: str, turn: Turn) -> None:
        """Call as a granted turn's request goes out: if it goes later than its grant's
        score, the limiter's log is told, so the send is counted in the windows where
        it really went."""
        queue = self._queues.get(number)
        if queue is None or queue.corrections is None or turn.member is None:
            return
        late_ms = (asyncio.get_running_loop().time() - turn.due) * 1000
        if late_ms >= CORRECT_LATE_FROM_MS:
            # Posted, not awaited: a lost correction costs only the margin it would have
            # spared, and the send must not wait for it.
            queue.corrections.post((turn.member, round(late_ms, 3)))

    def _queue(self, number: str) -> _NumberQueue:
        queue = self._queues.get(number)
        if queue is None:
            queue = self._queues[number] = _NumberQueue()
            if self._limiter.corrects(number):
                queue.corrections = Coalescer(
                    partial(self._limiter.correct, number), linger_s=CORRECTIONS_GATHERED_S
                )
        return queue

    async def _wait(
        self, number: str, campaign_id: str, weight: int, retry: bool, claim: ClaimRequest | None
    ) -> Turn:
        queue = self._queue(number)
        lane = queue.lanes.get(campaign_id)
        if lane is None:
            start = max(queue.current_pass, queue.ran_dry.pop(campaign_id, 0.0))
            lane = queue.lanes[campaign_id] = _Lane(campaign_id, weight, start)
        waiter = _Waiter(asyncio.get_running_loop().create_future(), claim)
        if retry:
            lane.waiters.appendleft(waiter)
        else:
            lane.waiters.append(waiter)
        if queue.server is None or queue.server.done():
            queue.server = asyncio.create_task(self._serve(number, queue), name=f"gate-{number}")
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.result().granted:
                self._request_slots.release()  # granted as we were cancelled: the grant is lost
            elif waiter in lane.waiters:
                lane.waiters.remove(waiter)
            raise

    async def _serve(self, number: str, queue: _NumberQueue) -> None:
        while self._drop_dry_lanes(queue):
            await self._request_slots.acquire()
            slots = 1
            chosen: list[tuple[_Lane, _Waiter]] = []
            pause_s = 0.0
            try:
                if not await self._any_sendable_lane(queue):
                    continue
                # One slot is ours; take the other free ones without waiting for more.
                waiting = sum(len(lane.waiters) for lane in queue.lanes.values())
                while slots < waiting and not self._request_slots.locked():
                    await self._request_slots.acquire()
                    slots += 1
                chosen = self._choose(queue, slots)
                if not chosen:
                    continue  # everybody left
                grants = await self._limiter.grant(
                    number, self._claims_of(chosen) if chosen[0][1].claim else len(chosen)
                )
                slots -= self._hand_out(chosen, grants.dealt)
                self._put_back(chosen[len(grants.dealt) :])
                chosen = []
                # Early: the limiter grants up to EARLY_GRANT_MS ahead (see there).
                pause_s = max(grants.wait_ms - EARLY_GRANT_MS, 0) / 1000
            except Exception:
                log.exception("send gate error; trying again shortly", extra={"number": number})
                self._put_back(chosen)
                pause_s = 0.5
            finally:
                # Slots not handed over go back before any pause: other numbers may use them.
                for _ in range(slots):
                    self._request_slots.release()
            if pause_s:
                await asyncio.sleep(pause_s)

    @staticmethod
    def _claims_of(chosen: list[tuple[_Lane, _Waiter]]) -> list[ClaimRequest]:
        # Waiters of one gate all ask for claims, or none do (tests of the gate alone).
        claims = [waiter.claim for _, waiter in chosen]
        if any(claim is None for claim in claims):
            raise ValueError("a group of waiters mixes sends with and without claims")
        return claims  # type: ignore[return-value]

    def _choose(self, queue: _NumberQueue, count: int) -> list[tuple[_Lane, _Waiter]]:
        """Take up to ``count`` waiters in stride order, advancing their lanes' passes."""
        chosen: list[tuple[_Lane, _Waiter]] = []
        while len(chosen) < count and (lane := queue.next_lane()) is not None:
            waiter = lane.waiters.popleft()
            if waiter.future.done():
                continue  # cancelled while waiting
            chosen.append((lane, waiter))
            queue.current_pass = lane.pass_
            lane.pass_ += 1 / lane.weight
        return chosen

    @staticmethod
    def _put_back(chosen: list[tuple[_Lane, _Waiter]]) -> None:
        """Waiters not served go back to the front of their lanes, passes as they were."""
        for lane, waiter in reversed(chosen):
            lane.pass_ -= 1 / lane.weight
            if not waiter.future.done():
                lane.waiters.appendleft(waiter)

    @staticmethod
    def _hand_out(chosen: list[tuple[_Lane, _Waiter]], dealt: list[Grant]) -> int:
        """Give each waiter dealt with its answer; returns the request slots handed over."""
        handed = 0
        for (lane, waiter), grant in zip(chosen, dealt, strict=False):
            if not grant.granted:
                lane.pass_ -= 1 / lane.weight  # a lost claim spent no grant
                if not waiter.future.done():
                    waiter.future.set_result(Turn(False, claim_lost=True))
            elif waiter.future.done():
                pass  # cancelled meanwhile: its grant goes unused, its claim goes stale
            else:
                waiter.future.set_result(
                    Turn(True, claim_raw=grant.claim_raw, member=grant.member, due=grant.due)
                )
                handed += 1
        return handed

    async def _any_sendable_lane(self, queue: _NumberQueue) -> bool:
        """Whether a lane whose campaign may send waits; others' waiters are woken
        without a grant."""
        for lane in [lane for lane in queue.lanes.values() if lane.waiters]:
            if not await self._sendable(lane.campaign_id):
                while lane.waiters:
                    waiter = lane.waiters.popleft()
                    if not waiter.future.done():
                        waiter.future.set_result(NOT_SENDABLE)
        return any(lane.waiters for lane in queue.lanes.values())

    def _drop_dry_lanes(self, queue: _NumberQueue) -> bool:
        """Forget lanes with no waiters, remembering their pass; True while any waits."""
        for campaign_id in [c for c, lane in queue.lanes.items() if not lane.waiters]:
            queue.ran_dry[campaign_id] = queue.lanes.pop(campaign_id).pass_
        if len(queue.ran_dry) > _FORGET_PASSES_ABOVE:
            # A pass behind the current one would be raised to it anyway.
            queue.ran_dry = {c: p for c, p in queue.ran_dry.items() if p > queue.current_pass}
        return bool(queue.lanes)
