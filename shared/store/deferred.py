"""Commands held while their campaign is paused, in Redis, until it resumes or stops.

Layout (under the prefix):
- ``deferred:{campaign id}``  list: SendMessage JSON, in the order they were held
- ``deferred:campaigns``      set: campaigns that may have held commands

Senders only append; the dispatcher alone takes commands out (one reader), so
reading a slice, acting on it, then trimming it loses nothing in a crash: at
worst a slice is acted on twice, which the senders' ledger makes harmless.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.events.models import SendMessage
from shared.redis import Keys


class DeferredCommands:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._index = keys("deferred", "campaigns")

    def _list(self, campaign_id: str) -> str:
        return self._keys("deferred", campaign_id)

    async def hold(self, command: SendMessage) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._list(command.campaign_id), command.model_dump_json(by_alias=True))
            pipe.sadd(self._index, command.campaign_id)
            await pipe.execute()

    async def campaigns(self) -> list[str]:
        return sorted(member.decode() for member in await self._redis.smembers(self._index))

    async def peek(self, campaign_id: str, count: int) -> list[SendMessage]:
        raw = await self._redis.lrange(self._list(campaign_id), 0, count - 1)
        return [SendMessage.model_validate_json(item) for item in raw]

    async def drop(self, campaign_id: str, count: int) -> None:
        await self._redis.ltrim(self._list(campaign_id), count, -1)

    async def forget_if_empty(self, campaign_id: str) -> None:
        # Remove first, then look: a command held in between puts the campaign back.
        await self._redis.srem(self._index, campaign_id)
        if await self._redis.llen(self._list(campaign_id)):
            await self._redis.sadd(self._index, campaign_id)
