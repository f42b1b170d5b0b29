"""The wall clock that messaging tiers and send windows read.

Both depend on the time of day and on 24-hour spans, which no test can wait for.
With CLOCK_ADJUSTABLE (development and tests only) the clock adds an offset kept
in Redis, so a test moves every dispatcher a day ahead at once; otherwise it is
the system clock and Redis is never asked.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from shared.redis import Keys

OFFSET_CACHE_S = 0.2


class Clock:
    async def now_ms(self) -> int:
        return int(time.time() * 1000)


class AdjustableClock(Clock):
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = offset_key(keys)
        self._offset_ms = 0
        self._read_at = float("-inf")

    async def now_ms(self) -> int:
        if time.monotonic() - self._read_at > OFFSET_CACHE_S:
            raw = await self._redis.get(self._key)
            self._offset_ms = int(raw) if raw else 0
            self._read_at = time.monotonic()
        return int(time.time() * 1000) + self._offset_ms


def offset_key(keys: Keys) -> str:
    return keys("clock", "offset_ms")


def make_clock(adjustable: bool, redis: Redis, keys: Keys) -> Clock:
    return AdjustableClock(redis, keys) if adjustable else Clock()
