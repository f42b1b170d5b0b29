"""Which campaigns the dispatcher is still expanding, and what it needs to go on.

Layout (under the prefix):
- ``dispatch:expanding``     set: campaigns with contacts not yet emitted
- ``dispatch:start:{id}``    the campaign's CampaignStarted, as JSON: the audience and
                             content the next batches are cut from
- ``dispatch:trace:{id}``    the trace context of the campaign's start, continued by each
                             batch (JSON: W3C traceparent and tracestate)
- ``dispatch:tick:{id}``     present while a tick for the campaign is on its way, so that
                             pollers in several dispatchers do not pile ticks up
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.events.models import CampaignStarted
from shared.redis import Keys

# A tick not handled within this long is presumed lost; another may be sent.
TICK_PENDING_MS = 5_000


class ExpansionStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _start_key(self, campaign_id: str) -> str:
        return self._keys("dispatch", "start", campaign_id)

    def _tick_key(self, campaign_id: str) -> str:
        return self._keys("dispatch", "tick", campaign_id)

    async def register(self, event: CampaignStarted, trace_context: dict[str, str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._start_key(event.campaign_id), event.model_dump_json())
            trace_key = self._keys("dispatch", "trace", event.campaign_id)
            pipe.set(trace_key, orjson.dumps(trace_context))
            pipe.sadd(self._keys("dispatch", "expanding"), event.campaign_id)
            await pipe.execute()

    async def started(self, campaign_id: str) -> CampaignStarted | None:
        raw = await self._redis.get(self._start_key(campaign_id))
        return None if raw is None else CampaignStarted.model_validate_json(raw)

    async def trace_context(self, campaign_id: str) -> dict[str, str]:
        raw = await self._redis.get(self._keys("dispatch", "trace", campaign_id))
        return orjson.loads(raw) if raw else {}

    async def expanding(self) -> list[str]:
        members = await self._redis.smembers(self._keys("dispatch", "expanding"))
        return sorted(member.decode() for member in members)

    async def forget(self, campaign_id: str) -> None:
        """Expansion is over: every contact was emitted or cancelled."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._keys("dispatch", "expanding"), campaign_id)
            pipe.delete(
                self._start_key(campaign_id),
                self._tick_key(campaign_id),
                self._keys("dispatch", "trace", campaign_id),
            )
            await pipe.execute()

    async def claim_tick(self, campaign_id: str) -> bool:
        """True when no tick for the campaign is on its way: the caller sends one."""
        claimed = await self._redis.set(self._tick_key(campaign_id), 1, nx=True, px=TICK_PENDING_MS)
        return bool(claimed)

    async def tick_arrived(self, campaign_id: str) -> None:
        await self._redis.delete(self._tick_key(campaign_id))
