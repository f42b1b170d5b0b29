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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.sender.limiter import SlidingWindowLimiter
from shared.events.models import Priority
from shared.metrics import LIMITER_WAIT_SECONDS
from shared.priority import weight

log = logging.getLogger(__name__)

# Passes of lanes that ran dry are remembered until there are this many.
_FORGET_PASSES_ABOVE = 10_000

Sendable = Callable[[str], Awaitable[bool]]


@dataclass(slots=True)
class _Lane:
    campaign_id: str
    weight: int
    pass_: float
    waiters: deque[asyncio.Future[bool]] = field(default_factory=deque)


@dataclass(slots=True)
class _NumberQueue:
    lanes: dict[str, _Lane] = field(default_factory=dict)
    # The pass of the last lane served: where a new lane starts.
    current_pass: float = 0.0
    ran_dry: dict[str, float] = field(default_factory=dict)
    server: asyncio.Task[None] | None = None

    def next_lane(self) -> _Lane | None:
        live = [lane for lane in self.lanes.values() if lane.waiters]
        return min(live, key=lambda lane: lane.pass_) if live else None


class FairGate:
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
        self, number: str, campaign_id: str, priority: Priority, *, retry: bool = False
    ) -> AsyncIterator[bool]:
        """Wait for this campaign's fair turn on ``number``.

        Yields True holding a limiter grant and a request slot (released on exit), or
        False when the campaign stopped being sendable while waiting. A retry goes to
        the front of its campaign's lane: its backoff was its wait, and behind the
        campaign's whole read-ahead it would wait minutes more.
        """
        started = time.perf_counter()
        granted = await self._wait(number, campaign_id, weight(priority), retry)
        if granted:
            LIMITER_WAIT_SECONDS.observe(time.perf_counter() - started)
        if not granted:
            yield False
            return
        try:
            yield True
        finally:
            self._request_slots.release()

    async def _wait(self, number: str, campaign_id: str, weight: int, retry: bool) -> bool:
        queue = self._queues.setdefault(number, _NumberQueue())
        lane = queue.lanes.get(campaign_id)
        if lane is None:
            start = max(queue.current_pass, queue.ran_dry.pop(campaign_id, 0.0))
            lane = queue.lanes[campaign_id] = _Lane(campaign_id, weight, start)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if retry:
            lane.waiters.appendleft(future)
        else:
            lane.waiters.append(future)
        if queue.server is None or queue.server.done():
            queue.server = asyncio.create_task(self._serve(number, queue), name=f"gate-{number}")
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result():
                self._request_slots.release()  # granted as we were cancelled: the grant is lost
            elif future in lane.waiters:
                lane.waiters.remove(future)
            raise

    async def _serve(self, number: str, queue: _NumberQueue) -> None:
        while self._drop_dry_lanes(queue):
            await self._request_slots.acquire()
            handed = False
            try:
                lane = await self._sendable_lane(queue)
                if lane is None:
                    continue
                wait_ms = await self._limiter.try_acquire(number)
                if wait_ms:
                    await asyncio.sleep(wait_ms / 1000)
                    continue
                # Waiters may have left during the awaits: choose again, never wait again.
                lane = queue.next_lane()
                if lane is None:
                    continue  # everybody left: this one grant goes unused
                lane.waiters.popleft().set_result(True)
                handed = True
                queue.current_pass = lane.pass_
                lane.pass_ += 1 / lane.weight
            except Exception:
                log.exception("send gate error; trying again shortly", extra={"number": number})
                await asyncio.sleep(0.5)
            finally:
                if not handed:
                    self._request_slots.release()

    async def _sendable_lane(self, queue: _NumberQueue) -> _Lane | None:
        """The next lane whose campaign may send; others' waiters are woken without a grant."""
        while (lane := queue.next_lane()) is not None:
            if await self._sendable(lane.campaign_id):
                return lane
            while lane.waiters:
                lane.waiters.popleft().set_result(False)
        return None

    def _drop_dry_lanes(self, queue: _NumberQueue) -> bool:
        """Forget lanes with no waiters, remembering their pass; True while any waits."""
        for campaign_id in [c for c, lane in queue.lanes.items() if not lane.waiters]:
            queue.ran_dry[campaign_id] = queue.lanes.pop(campaign_id).pass_
        if len(queue.ran_dry) > _FORGET_PASSES_ABOVE:
            # A pass behind the current one would be raised to it anyway.
            queue.ran_dry = {c: p for c, p in queue.ran_dry.items() if p > queue.current_pass}
        return bool(queue.lanes)
