"""The queue dashboard, from real state: campaign hashes, progress views, Kafka, Redis.

Campaign counts and totals cover what the user may see (their campaigns and those with
no owner); the processing queue and the system part describe the whole system.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from pydantic import Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.auth import User
from services.api.lag import ConsumerLagMonitor, lag_by_topic
from services.api.models import ApiModel
from services.api.queue_status import FunnelPublic, is_running, unsent
from services.api.senders import breaker_verdict, live_breakers
from services.api.settings import ApiSettings
from shared.kafka import kafka_reachable
from shared.redis import Keys
from shared.runtime import Connections
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore

log = logging.getLogger(__name__)
SYSTEM_CACHE_S = 1.0


class CampaignQueueCounts(ApiModel):
    waiting: int = 0  # queued: accepted, not yet picked up by the dispatcher
    active: int = 0  # sending
    completed: int = 0
    failed: int = 0
    paused: int = 0
    scheduled: int = 0
    draft: int = 0
    stopped: int = 0


class ProcessingQueue(ApiModel):
    in_flight_batches: int
    pending_messages: int
    consumer_lag: dict[str, int]
    consumer_groups: dict[str, dict[str, int]]


class Totals(ApiModel):
    sent: int
    failed: int


class SystemMetrics(ApiModel):
    active_workers: int
    # Replica id -> its circuit breaker: closed, open or half_open.
    circuit_breakers: dict[str, str]
    # All replicas as one: open if any is open, then half_open; unknown with none alive.
    circuit_breaker: str
    uptime_s: float
    redis: dict[str, object]
    kafka: dict[str, object]
    average_processing_time_ms: int | None
    totals: Totals
    funnel: FunnelPublic = Field(
        default_factory=lambda: FunnelPublic(),
        description="Delivery funnel summed over your running and recently run campaigns.",
    )


class DashboardMetrics(ApiModel):
    campaign_queue: CampaignQueueCounts
    processing_queue: ProcessingQueue
    system: SystemMetrics


class DashboardPublic(ApiModel):
    success: bool = True
    metrics: DashboardMetrics


class DashboardService:
    def __init__(
        self,
        settings: ApiSettings,
        connections: Connections,
        campaigns: CampaignStore,
        progress: ProgressStore,
        lag: ConsumerLagMonitor,
    ) -> None:
        self._settings = settings
        self._connections = connections
        self._redis: Redis = connections.redis
        self._keys = Keys(settings.redis_key_prefix)
        self._campaigns = campaigns
        self._progress = progress
        self._funnels = FunnelStore(self._redis, self._keys)
        self._lag = lag
        self._started_monotonic = time.monotonic()
        self._system_cache: tuple[float, tuple[dict[str, object], bool, dict[str, str]]] | None
        self._system_cache = None
        self._system_lock = asyncio.Lock()

    async def metrics(self, user: User) -> DashboardMetrics:
        own_ids = await self._campaigns.owner_ids(user.id)
        active_ids = await self._campaigns.active_ids()
        ids = list(dict.fromkeys([*own_ids, *active_ids]))
        records = await self._campaigns.get_many(ids)
        progresses = await asyncio.gather(*(self._progress.read(i) for i in ids))
        counts: Counter[str] = Counter()
        sent = failed = pending = in_flight = 0
        durations: list[int] = []
        active = set(active_ids)
        # Funnels of the recent campaigns the user sees: (id, accepted) for one read.
        recent: list[tuple[str, int]] = []
        for campaign_id, record, progress in zip(ids, records, progresses, strict=True):
            if record is None:
                continue
            running = is_running(record, progress)
            if campaign_id in active and running:
                pending += unsent(record, progress)
                if progress is not None:
                    emitted = min(progress.batches_emitted, progress.batches_total)
                    in_flight += max(0, emitted - progress.jobs_completed)
            if record.owner_id not in (None, user.id):
                continue
            counts[record.status] += 1
            if campaign_id in active:
                recent.append((campaign_id, progress.sent if progress is not None else 0))
            if progress is not None:
                sent += progress.sent
                failed += progress.failed
                if progress.finished_ms is not None and progress.started_ms is not None:
                    durations.append(progress.finished_ms - progress.started_ms)
        funnel = await self._funnel_totals(recent)
        lag = await self._lag.lag()
        redis_info, kafka_up, workers = await self._system_state()
        return DashboardMetrics(
            campaign_queue=CampaignQueueCounts(
                waiting=counts["queued"],
                active=counts["sending"] + counts["throttled"],
                completed=counts["completed"],
                failed=counts["failed"],
                paused=counts["paused"],
                scheduled=counts["scheduled"],
                draft=counts["draft"],
                stopped=counts["stopped"],
            ),
            processing_queue=ProcessingQueue(
                in_flight_batches=in_flight,
                pending_messages=pending,
                consumer_lag=lag_by_topic(lag or {}),
                consumer_groups=lag or {},
            ),
            system=SystemMetrics(
                active_workers=len(workers),
                circuit_breakers=workers,
                circuit_breaker=breaker_verdict(workers.values()),
                uptime_s=round(time.monotonic() - self._started_monotonic, 3),
                redis=redis_info,
                kafka={
                    "connected": kafka_up,
                    "bootstrapServers": self._settings.kafka_bootstrap_servers,
                    "topicPrefix": self._settings.kafka_topic_prefix,
                    "lagAvailable": lag is not None,
                },
                average_processing_time_ms=(
                    round(sum(durations) / len(durations)) if durations else None
                ),
                totals=Totals(sent=sent, failed=failed),
                funnel=funnel,
            ),
        )

    async def _funnel_totals(self, campaigns: list[tuple[str, int]]) -> FunnelPublic:
        funnels = await self._funnels.read_many([campaign_id for campaign_id, _ in campaigns])
        return FunnelPublic(
            accepted=sum(accepted for _, accepted in campaigns),
            sent=sum(f.sent for f in funnels),
            delivered=sum(f.delivered for f in funnels),
            read=sum(f.read for f in funnels),
            failed=sum(f.failed for f in funnels),
            undelivered=sum(f.undelivered for f in funnels),
        )

    async def _system_state(self) -> tuple[dict[str, object], bool, dict[str, str]]:
        """Redis info, Kafka reachability and live senders, shared by the requests of one
        second: under load, each request asking Kafka for metadata was the slow part."""
        async with self._system_lock:
            now = time.monotonic()
            if self._system_cache is not None and now - self._system_cache[0] < SYSTEM_CACHE_S:
                return self._system_cache[1]
            state = await asyncio.gather(
                self._redis_info(), kafka_reachable(self._connections.producer), self._workers()
            )
            self._system_cache = (time.monotonic(), state)
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
