"""Commands set aside until their time comes, with the reason they wait.

- ``paused``: a sender met the command while its campaign was paused. It goes
  back to the senders when the campaign resumes, in the order it was held, or
  ends cancelled when the campaign stops.
- ``window`` and ``tier``: the dispatcher held the command until a due time (the
  recipient's send window opens, the sender's messaging tier frees a place). It
  goes when due, earliest first.

Layout (under the prefix). It is the one the two earlier stores used, so that
commands held when a running system is upgraded are still released:
- ``deferred:{campaign id}``       list: paused SendMessage JSON, in the order held
- ``deferred:campaigns``           set: campaigns that may hold paused commands
- ``held:{campaign id}:{reason}``  sorted set (window, tier): SendMessage JSON -> due ms
- ``held:index``                   set: ``{campaign id}:{reason}`` that may hold some

Senders and dispatchers put commands in; the dispatchers' releaser alone takes
them out. It acts on a slice first and removes the slice after, so a crash in
between acts on a slice twice, which the senders' ledger makes harmless, and
never loses a command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from shared.events.models import SendMessage
from shared.redis import Keys

HoldReason = Literal["paused", "window", "tier"]
PAUSED_REASON: HoldReason = "paused"
# Held until a due time, by the dispatcher. Only these count as done for the pacing:
# a paused command is still in flight, like one a sender has.
TIMED_REASONS: tuple[HoldReason, ...] = ("window", "tier")
HOLD_REASONS: tuple[HoldReason, ...] = (PAUSED_REASON, *TIMED_REASONS)


@dataclass(frozen=True, slots=True)
class Held:
    """A held command and its stored form, which removes it."""

    member: bytes
    command: SendMessage


def _parse(raw: Sequence[bytes]) -> list[Held]:
    return [Held(member, SendMessage.model_validate_json(member)) for member in raw]


class HoldingStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._paused_index = keys("deferred", "campaigns")
        self._timed_index = keys("held", "index")

    def _container(self, campaign_id: str, reason: HoldReason) -> str:
        if reason == PAUSED_REASON:
            return self._keys("deferred", campaign_id)
        return self._keys("held", campaign_id, reason)

    def _index_entry(self, campaign_id: str, reason: HoldReason) -> tuple[str, str]:
        if reason == PAUSED_REASON:
            return self._paused_index, campaign_id
        return self._timed_index, f"{campaign_id}:{reason}"

    async def hold(
        self, campaign_id: str, reason: HoldReason, commands: Sequence[tuple[SendMessage, int]]
    ) -> None:
        """Set ``(command, due ms)`` pairs aside; a paused command's due time is unused."""
        if not commands:
            return
        container = self._container(campaign_id, reason)
        index, entry = self._index_entry(campaign_id, reason)
        async with self._redis.pipeline(transaction=True) as pipe:
            if reason == PAUSED_REASON:
                pipe.rpush(container, *(c.model_dump_json(by_alias=True) for c, _ in commands))
            else:
                pipe.zadd(container, {c.model_dump_json(by_alias=True): due for c, due in commands})
            pipe.sadd(index, entry)
            await pipe.execute()

    async def hold_paused(self, command: SendMessage) -> None:
        """A sender's: the command's campaign is paused."""
        await self.hold(command.campaign_id, PAUSED_REASON, [(command, 0)])

    async def entries(self) -> list[tuple[str, HoldReason]]:
        """(campaign id, reason) of everything that may hold commands."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self._paused_index)
            pipe.smembers(self._timed_index)
            paused, timed = await pipe.execute()
        entries: list[tuple[str, HoldReason]] = [(m.decode(), PAUSED_REASON) for m in paused]
        for member in timed:
            campaign_id, _, reason = member.decode().rpartition(":")
            if reason in TIMED_REASONS:
                entries.append((campaign_id, reason))
        return sorted(entries)

    async def due(
        self, campaign_id: str, reason: HoldReason, now_ms: int, limit: int
    ) -> list[Held]:
        """Up to ``limit`` commands due at ``now_ms``; paused ones are all due, in order."""
        container = self._container(campaign_id, reason)
        if reason == PAUSED_REASON:
            return _parse(await self._redis.lrange(container, 0, limit - 1))
        return _parse(
            await self._redis.zrangebyscore(container, "-inf", now_ms, start=0, num=limit)
        )

    async def first(self, campaign_id: str, reason: HoldReason, limit: int) -> list[Held]:
        """Up to ``limit`` commands, due or not."""
        container = self._container(campaign_id, reason)
        if reason == PAUSED_REASON:
            return _parse(await self._redis.lrange(container, 0, limit - 1))
        return _parse(await self._redis.zrange(container, 0, limit - 1))

    async def remove(self, campaign_id: str, reason: HoldReason, held: Sequence[Held]) -> None:
        """Remove commands read by :meth:`due` or :meth:`first`.

        Paused ones are the list's head (senders only append), so they are trimmed."""
        if not held:
            return
        container = self._container(campaign_id, reason)
        if reason == PAUSED_REASON:
            await self._redis.ltrim(container, len(held), -1)
        else:
            await self._redis.zrem(container, *(h.member for h in held))

    async def next_due_ms(self, campaign_id: str, reason: HoldReason) -> int | None:
        first = await self._redis.zrange(
            self._container(campaign_id, reason), 0, 0, withscores=True
        )
        return int(first[0][1]) if first else None

    async def counts(self, campaign_id: str) -> dict[HoldReason, int]:
        """Commands held until a time (window, tier), by reason."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_counts(pipe, campaign_id)
            return self.parse_counts(await pipe.execute())

    def queue_counts(self, pipe: Redis, campaign_id: str) -> None:
        """Queue the reads of :meth:`counts` (one per timed reason) on a pipeline."""
        for reason in TIMED_REASONS:
            pipe.zcard(self._container(campaign_id, reason))

    @staticmethod
    def parse_counts(replies: Sequence[int]) -> dict[HoldReason, int]:
        """Held commands by reason, from the replies of :meth:`queue_counts`."""
        return dict(zip(TIMED_REASONS, (int(n) for n in replies), strict=True))

    async def forget_if_empty(self, campaign_id: str, reason: HoldReason) -> None:
        # Remove first, then look: a command held in between puts the entry back.
        container = self._container(campaign_id, reason)
        index, entry = self._index_entry(campaign_id, reason)
        await self._redis.srem(index, entry)
        size = self._redis.llen if reason == PAUSED_REASON else self._redis.zcard
        if await size(container):
            await self._redis.sadd(index, entry)
