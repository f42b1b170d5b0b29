"""The queue dashboard, from real state: campaign hashes, progress views, Kafka, Redis.

Campaign counts, totals and the processing queue's backlog cover the campaigns the user
may see: their own, and for an admin also those with no owner. Consumer lag and the
system part describe the infrastructure shared by every tenant: admins only (for a
marketer ``system`` is null and the lag maps are empty).

A user's summary is cached for DASHBOARD_CACHE_S (1 s): under 200 polling clients,
recomputing it per request was most of the api's work. Each worker process keeps its
own cache, and a request that changes a campaign through the api (create, start,
pause, resume, stop, retry) drops the cached summary of the campaign's owner in every
worker, through Redis: see :class:`DashboardGenerations`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass

from pydantic import Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.auth import User
from services.api.lag import ConsumerLagMonitor, GroupLag, lag_by_topic
from services.api.models import ApiModel
from services.api.queue_status import FunnelPublic, is_running, unsent
from services.api.senders import breaker_verdict, live_breakers
from services.api.settings import ApiSettings
from shared.kafka import kafka_reachable
from shared.lifecycle import (
    COMPLETED,
    DRAFT,
    FAILED,
    PAUSED,
    QUEUED,
    SCHEDULED,
    SENDING,
    STOPPED,
    THROTTLED,
)
from shared.redis import Keys
from shared.runtime import Connections
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore

log = logging.getLogger(__name__)
SYSTEM_CACHE_S = 1.0
# Cached summaries kept per worker before expired ones are dropped.
MAX_CACHED_SUMMARIES = 10_000
# Generation counters expire this long after the last change they count.
GENERATION_TTL_S = 86_400


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
    totals: Totals = Field(description="Sent and failed over your campaigns.")
    funnel: FunnelPublic = Field(
        description="Delivery funnel summed over your running and recently run campaigns."
    )
    system: SystemMetrics | None = Field(
        description="Infrastructure (workers, breakers, Kafka, Redis): admins only, else null."
    )


class DashboardPublic(ApiModel):
    success: bool = True
    metrics: DashboardMetrics


class DashboardGenerations:
    """Per-user generation counters in Redis that drop cached dashboard summaries.

    ``dashboard:generation:{user}`` counts the changes a user made to their campaigns
    through the api, ``dashboard:generation`` those to campaigns without an owner, which
    admins see. A control request INCRs the counter after the change; a worker
    keys its cached summary by the counters it read before computing it. So one cheap
    MGET per dashboard request tells every worker whether its summary is still good,
    with no message between workers, and a summary computed while a change was made is
    never reused after it. The summary itself stays in the worker (it is short-lived
    and holds what Redis and Kafka already hold); only what must agree across workers,
    the counters, lives in Redis. Changes made by other services (a campaign finishing)
    show when the cache expires, after at most DASHBOARD_CACHE_S.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, owner_id: str | None) -> str:
        return self._keys("dashboard", "generation", *([owner_id] if owner_id else []))

    async def current(self, user_id: str) -> tuple[bytes | None, bytes | None]:
        """The counters the user's summary depends on, in one round trip."""
        mine, shared = await self._redis.mget(self._key(user_id), self._key(None))
        return mine, shared

    async def bump(self, owner_id: str | None) -> None:
        """After a change to a campaign of ``owner_id`` (None: one without an owner)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(self._key(owner_id))
            pipe.expire(self._key(owner_id), GENERATION_TTL_S)
            await pipe.execute()


def _view(user: User) -> str:
    """The cache key of a user's summary: its content depends on the role too."""
    return f"{user.role}:{user.id}"


@dataclass(slots=True)
class _Cached:
    generation: tuple[bytes | None, bytes | None]
    at: float
    summary: asyncio.Task[DashboardMetrics]


class DashboardService:
    def __init__(
        self,
        settings: ApiSettings,
        connections: Connections,
        campaigns: CampaignStore,
        progress: ProgressStore,
        lag: ConsumerLagMonitor,
        generations: DashboardGenerations | None = None,
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
        self._generations = generations or DashboardGenerations(self._redis, self._keys)
        self._summaries: dict[str, _Cached] = {}

    async def metrics(self, user: User) -> DashboardMetrics:
        """The user's summary, computed at most once per DASHBOARD_CACHE_S and change.

        Concurrent requests of one user share one computation (its task is cached from
        the start), so a burst of polls costs one summary, not one each.
        """
        ttl_s = self._settings.dashboard_cache_s
        if ttl_s <= 0:
            return await self._compute(user)
        generation = await self._generations.current(user.id)
        now = time.monotonic()
        cached = self._summaries.get(_view(user))
        if (
            cached is None
            or cached.generation != generation
            or now - cached.at >= ttl_s
            or (cached.summary.done() and cached.summary.exception() is not None)
        ):
            if len(self._summaries) >= MAX_CACHED_SUMMARIES:
                self._drop_expired(now, ttl_s)
            cached = _Cached(generation, now, asyncio.create_task(self._compute(user)))
            self._summaries[_view(user)] = cached
        # Shielded: a client that goes away does not cancel the others' summary.
        return await asyncio.shield(cached.summary)

    def _drop_expired(self, now: float, ttl_s: float) -> None:
        for view, cached in list(self._summaries.items()):
            if now - cached.at >= ttl_s and cached.summary.done():
                del self._summaries[view]

    async def _compute(self, user: User) -> DashboardMetrics:
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
            # Another tenant's backlog is theirs: counted for nobody else.
            if record is None or not user.may_see(record.owner_id):
                continue
            running = is_running(record, progress)
            if campaign_id in active and running:
                pending += unsent(record, progress)
                if progress is not None:
                    emitted = min(progress.batches_emitted, progress.batches_total)
                    in_flight += max(0, emitted - progress.jobs_completed)
            counts[record.status] += 1
            if campaign_id in active:
                recent.append((campaign_id, progress.sent if progress is not None else 0))
            if progress is not None:
                sent += progress.sent
                failed += progress.failed
                if progress.finished_ms is not None and progress.started_ms is not None:
                    durations.append(progress.finished_ms - progress.started_ms)
        totals = Totals(sent=sent, failed=failed)
        average_ms = round(sum(durations) / len(durations)) if durations else None
        funnel = await self._funnel_totals(recent)
        lag = await self._lag.lag() if user.is_admin else {}
        return DashboardMetrics(
            campaign_queue=CampaignQueueCounts(
                waiting=counts[QUEUED],
                active=counts[SENDING] + counts[THROTTLED],
                completed=counts[COMPLETED],
                failed=counts[FAILED],
                paused=counts[PAUSED],
                scheduled=counts[SCHEDULED],
                draft=counts[DRAFT],
                stopped=counts[STOPPED],
            ),
            processing_queue=ProcessingQueue(
                in_flight_batches=in_flight,
                pending_messages=pending,
                consumer_lag=lag_by_topic(lag or {}),
                consumer_groups=lag or {},
            ),
            totals=totals,
            funnel=funnel,
            system=await self._system(lag, totals, average_ms, funnel) if user.is_admin else None,
        )

    async def _system(
        self,
        lag: GroupLag | None,
        totals: Totals,
        average_ms: int | None,
        funnel: FunnelPublic,
    ) -> SystemMetrics:
        redis_info, kafka_up, workers = await self._system_state()
        return SystemMetrics(
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
            average_processing_time_ms=average_ms,
            totals=totals,
            funnel=funnel,
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
