"""The dashboard's system part, for admins: workers and their breakers, Redis, Kafka.

Read at most once per SYSTEM_CACHE_S for every request of the worker: under load, each
request asking Kafka for metadata was the slow part.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.lag import GroupLag
from services.api.schemas.dashboard import SystemMetricsPublic, TotalsPublic
from services.api.schemas.queue_status import FunnelPublic
from services.api.senders import breaker_verdict, live_breakers
from services.api.settings import ApiSettings
from shared.kafka import kafka_reachable
from shared.redis import Keys
from shared.runtime import Connections

log = logging.getLogger(__name__)
SYSTEM_CACHE_S = 1.0


class SystemState:
    def __init__(self, settings: ApiSettings, connections: Connections) -> None:
        self._settings = settings
        self._connections = connections
        self._redis: Redis = connections.redis
        self._keys = Keys(settings.redis_key_prefix)
        self._started_monotonic = time.monotonic()
        self._cache: tuple[float, tuple[dict[str, object], bool, dict[str, str]]] | None = None
        self._lock = asyncio.Lock()

    async def metrics(
        self,
        for_admin: bool,
        lag: GroupLag | None,
        totals: TotalsPublic,
        campaigns_processed: int,
        average_ms: int | None,
        funnel: FunnelPublic,
    ) -> SystemMetricsPublic:
        """The original contract's six for everyone, the infrastructure only ``for_admin``."""
        redis_info, kafka_up, workers = await self._state()
        verdict = breaker_verdict(workers.values())
        original = SystemMetricsPublic(
            campaigns_processed=campaigns_processed,
            messages_sent=totals.sent,
            messages_failed=totals.failed,
            average_processing_time=average_ms,
            active_workers=len(workers),
            circuit_breaker_status=verdict,
            circuit_breaker=verdict,
            average_processing_time_ms=average_ms,
        )
        if not for_admin:
            return original
        return original.model_copy(
            update={
                "circuit_breakers": workers,
                "uptime_s": round(time.monotonic() - self._started_monotonic, 3),
                "redis": redis_info,
                "kafka": {
                    "connected": kafka_up,
                    "bootstrapServers": self._settings.kafka_bootstrap_servers,
                    "topicPrefix": self._settings.kafka_topic_prefix,
                    "lagAvailable": lag is not None,
                },
                "totals": totals,
                "funnel": funnel,
            }
        )

    async def _state(self) -> tuple[dict[str, object], bool, dict[str, str]]:
        """Redis info, Kafka reachability and live senders, shared by the requests of one
        second: under load, each request asking Kafka for metadata was the slow part."""
        async with self._lock:
            now = time.monotonic()
            if self._cache is not None and now - self._cache[0] < SYSTEM_CACHE_S:
                return self._cache[1]
            state = await asyncio.gather(
                self._redis_info(), kafka_reachable(self._connections.producer), self._workers()
            )
            self._cache = (time.monotonic(), state)
            return state

    async def _redis_info(self) -> dict[str, object]:
        try:
            info = await self._redis.info()
        except (RedisError, OSError) as error:
            log.warning("cannot read redis info", extra={"reason": repr(error)})
            return {"connected": False}
        return {
            "connected": True,
            "version": info.get("redis_version"),
            "usedMemoryBytes": info.get("used_memory"),
            "connectedClients": info.get("connected_clients"),
        }

    async def _workers(self) -> dict[str, str]:
        return await live_breakers(
            self._redis, self._keys, self._settings.worker_heartbeat_timeout_s
        )
