"""The sender's heartbeat: which replicas are alive, and what their breakers say.

Each replica writes ``workers:sender`` field ``<replica id>`` = JSON
``{"atMs", "breaker"}`` every few seconds; the api counts the fresh ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.redis import Keys

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        replica_id: str,
        breaker_state: Callable[[], str],
        interval_s: float,
    ) -> None:
        self._redis = redis
        self._key = keys("workers", "sender")
        self._replica_id = replica_id
        self._breaker_state = breaker_state
        self._interval_s = interval_s
        self._stopped = asyncio.Event()
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Beat now (the breaker changed state): the dashboard should not lag behind it."""
        self._woken.set()

    async def beat(self) -> None:
        beat = {"atMs": int(time.time() * 1000), "breaker": self._breaker_state()}
        await self._redis.hset(self._key, self._replica_id, orjson.dumps(beat))

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.beat()
            except (RedisError, OSError) as error:
                log.warning("heartbeat not written", extra={"reason": str(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._interval_s)
            self._woken.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        self._stopped.set()
        self._woken.set()
        if self._task is not None:
            await self._task
        # A replica that stops cleanly leaves at once rather than after the timeout.
        with contextlib.suppress(RedisError, OSError):
            await self._redis.hdel(self._key, self._replica_id)
