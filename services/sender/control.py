"""Whether a campaign's commands may be sent now, from the Redis copy of its status
(shared/store/campaign_status.py: the sender has no database connection).

One decision function, so that pause and defer (a later issue) are new rows in
its table rather than new branches spread through the handler.
"""

from __future__ import annotations

import asyncio
import time
from enum import StrEnum

from redis.asyncio import Redis

from shared import lifecycle
from shared.redis import Keys
from shared.store.campaign_status import StatusCache


class Decision(StrEnum):
    SEND = "send"
    CANCEL = "cancel"
    DEFER = "defer"
    EXPIRE = "expire"


# Statuses not listed (and a missing copy: the dispatcher writes one for every campaign
# it expands, but a Redis that lost its data has none until it is copied again) mean SEND.
DECISION_BY_STATUS: dict[str, Decision] = {
    lifecycle.STOPPED: Decision.CANCEL,
    lifecycle.PAUSED: Decision.DEFER,
}

# Past this many cached campaigns, expired entries are dropped.
_CACHE_SWEEP_SIZE = 10_000


def decision_for_status(status: str | None) -> Decision:
    return DECISION_BY_STATUS.get(status or "", Decision.SEND)


class CampaignControl:
    """Reads a campaign's status copy, kept for ``cache_ms`` to spare a round trip a message."""

    def __init__(self, redis: Redis, keys: Keys, cache_ms: int = 200) -> None:
        self._statuses = StatusCache(redis, keys)
        self._cache_s = cache_ms / 1000
        self._cache: dict[str, tuple[float, str | None]] = {}
        # Concurrent commands of one campaign share one read instead of racing to Redis:
        # each waits on a future of its own, so a waiter that is cancelled leaves the
        # others (and the read) alone.
        self._waiters: dict[str, list[asyncio.Future[str | None]]] = {}

    async def decide(self, campaign_id: str) -> Decision:
        return decision_for_status(await self.status(campaign_id))

    async def status(self, campaign_id: str) -> str | None:
        now = time.monotonic()
        cached = self._cache.get(campaign_id)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        waiters = self._waiters.get(campaign_id)
        if waiters is not None:
            waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            waiters.append(waiter)
            return await waiter
        waiters = self._waiters[campaign_id] = []
        try:
            status = await self._statuses.read(campaign_id)
        except BaseException as error:
            del self._waiters[campaign_id]
            for waiter in waiters:
                if not waiter.done():
                    # A cancelled reader fails its waiters too; they ask again themselves.
                    waiter.set_exception(
                        error if isinstance(error, Exception) else ConnectionError(repr(error))
                    )
            raise
        del self._waiters[campaign_id]
        self._remember(campaign_id, now, status)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(status)
        return status

    def _remember(self, campaign_id: str, at: float, status: str | None) -> None:
        if len(self._cache) >= _CACHE_SWEEP_SIZE:
            self._cache = {
                cid: entry for cid, entry in self._cache.items() if at - entry[0] < self._cache_s
            }
        self._cache[campaign_id] = (at, status)
