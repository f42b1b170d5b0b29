"""Commands the dispatcher holds until a time: a closed send window, a used-up tier.

Layout (under the prefix):
- ``held:{campaign id}:{reason}``  sorted set: SendMessage JSON -> due time (ms)
- ``held:index``                    set: ``{campaign id}:{reason}`` that may hold some

Only dispatchers write and read them. A release produces the commands first and
removes them after, so a crash in between sends a command twice to Kafka, which
the senders' ledger makes harmless, and never loses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from redis.asyncio import Redis

from shared.events.models import SendMessage
from shared.redis import Keys

HoldReason = Literal["window", "tier"]
HOLD_REASONS: tuple[HoldReason, ...] = ("window", "tier")


class HeldCommands:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._index = keys("held", "index")

    def _set(self, campaign_id: str, reason: HoldReason) -> str:
        return self._keys("held", campaign_id, reason)

    async def hold(
        self, campaign_id: str, reason: HoldReason, commands: Sequence[tuple[SendMessage, int]]
    ) -> None:
        if not commands:
            return
        members = {command.model_dump_json(by_alias=True): due_ms for command, due_ms in commands}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._set(campaign_id, reason), members)
            pipe.sadd(self._index, f"{campaign_id}:{reason}")
            await pipe.execute()

    async def holding(self) -> list[tuple[str, HoldReason]]:
        entries = []
        for member in await self._redis.smembers(self._index):
            campaign_id, _, reason = member.decode().rpartition(":")
            if reason in HOLD_REASONS:
                entries.append((campaign_id, reason))
        return sorted(entries)

    async def due(
        self, campaign_id: str, reason: HoldReason, now_ms: int, limit: int
    ) -> list[tuple[bytes, SendMessage]]:
        raw = await self._redis.zrangebyscore(
            self._set(campaign_id, reason), "-inf", now_ms, start=0, num=limit
        )
        return [(member, SendMessage.model_validate_json(member)) for member in raw]

    async def all(
        self, campaign_id: str, reason: HoldReason, limit: int
    ) -> list[tuple[bytes, SendMessage]]:
        raw = await self._redis.zrange(self._set(campaign_id, reason), 0, limit - 1)
        return [(member, SendMessage.model_validate_json(member)) for member in raw]

    async def remove(self, campaign_id: str, reason: HoldReason, members: Sequence[bytes]) -> None:
        if members:
            await self._redis.zrem(self._set(campaign_id, reason), *members)

    async def next_due_ms(self, campaign_id: str, reason: HoldReason) -> int | None:
        first = await self._redis.zrange(self._set(campaign_id, reason), 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def counts(self, campaign_id: str) -> dict[HoldReason, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_counts(pipe, campaign_id)
            return self.parse_counts(await pipe.execute())

    def queue_counts(self, pipe: Redis, campaign_id: str) -> None:
        """Queue the reads of :meth:`counts` (one per reason) on a pipeline."""
        for reason in HOLD_REASONS:
            pipe.zcard(self._set(campaign_id, reason))

    @staticmethod
    def parse_counts(replies: Sequence[int]) -> dict[HoldReason, int]:
        """Held commands by reason, from the replies of :meth:`queue_counts`."""
        return dict(zip(HOLD_REASONS, (int(n) for n in replies), strict=True))

    async def forget_if_empty(self, campaign_id: str, reason: HoldReason) -> None:
        # Remove first, then look: a command held in between puts the entry back.
        entry = f"{campaign_id}:{reason}"
        await self._redis.srem(self._index, entry)
        if await self._redis.zcard(self._set(campaign_id, reason)):
            await self._redis.sadd(self._index, entry)
