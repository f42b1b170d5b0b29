"""The queue dashboard, from real state: campaign rows, progress views, Kafka, Redis.

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

from redis.asyncio import Redis

from services.api.auth import User
from services.api.lag import ConsumerLagMonitor, lag_by_topic
from services.api.queue_status import is_running, unsent
from services.api.schemas.dashboard import (
    CampaignQueueCountsPublic,
    DashboardMetricsPublic,
    ProcessingQueuePublic,
    TotalsPublic,
)
from services.api.schemas.queue_status import AccountPublic, FunnelPublic
from services.api.settings import ApiSettings
from services.api.system_state import SystemState
from shared.account import CampaignAccount, account_of, combined
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
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.funnel import Funnel, FunnelStore
from shared.store.holding import HoldingStore
from shared.store.progress import Progress, ProgressStore

log = logging.getLogger(__name__)
# Cached summaries kept per worker before expired ones are dropped.
MAX_CACHED_SUMMARIES = 10_000
# Generation counters expire this long after the last change they count.
GENERATION_TTL_S = 86_400


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
    summary: asyncio.Task[DashboardMetricsPublic]


@dataclass(slots=True)
class MessageCounts:
    """The original contract's processingQueue: the user's messages by where they are."""

    completed: int = 0  # sent
    failed: int = 0
    waiting: int = 0  # not yet handed to the senders
    active: int = 0  # with the senders: in Kafka or being sent
    delayed: int = 0  # held: a pause, a send window or the messaging tier

    def add(self, record: CampaignRecord, progress: Progress | None, held: int) -> None:
        """Count a running campaign's messages without an outcome yet."""
        left = unsent(record, progress)
        if record.status == PAUSED:
            self.delayed += left
            return
        waiting = left if progress is None else min(left, max(0, progress.total - progress.emitted))
        delayed = min(held, left - waiting)
        self.waiting += waiting
        self.delayed += delayed
        self.active += left - waiting - delayed


class DashboardService:
    """The user's dashboard summary, computed from the stores and cached per user; the
    system part comes from :class:`SystemState`."""

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
        redis: Redis = connections.redis
        keys = Keys(settings.redis_key_prefix)
        self._campaigns = campaigns
        self._progress = progress
        self._funnels = FunnelStore(redis, keys)
        self._held = HoldingStore(redis, keys)
        self._lag = lag
        self._system = SystemState(settings, connections)
        self._generations = generations or DashboardGenerations(redis, keys)
        self._summaries: dict[str, _Cached] = {}

    async def metrics(self, user: User) -> DashboardMetricsPublic:
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

    async def _compute(self, user: User) -> DashboardMetricsPublic:
        found = await self._campaigns.owned_or_active(user.id)
        ids = [record.id for record, _ in found]
        records = [record for record, _ in found]
        active = {record.id for record, is_active in found if is_active}
        progresses = await self._progress.read_many(ids)
        funnels = dict(zip(ids, await self._funnels.read_many(ids), strict=True))
        accounts: list[CampaignAccount] = []
        counts: Counter[str] = Counter()
        sent = failed = pending = in_flight = 0
        running: list[tuple[CampaignRecord, Progress | None]] = []
        durations: list[int] = []
        # Funnels of the recent campaigns the user sees: (id, accepted) for one read.
        recent: list[tuple[str, int]] = []
        for campaign_id, record, progress in zip(ids, records, progresses, strict=True):
            # Another tenant's backlog is theirs: counted for nobody else.
            if record is None or not user.may_see(record.owner_id):
                continue
            if campaign_id in active and is_running(record, progress):
                pending += unsent(record, progress)
                running.append((record, progress))
                if progress is not None:
                    emitted = min(progress.batches_emitted, progress.batches_total)
                    in_flight += max(0, emitted - progress.jobs_completed)
            counts[record.status] += 1
            accounts.append(account_of(progress, funnels[campaign_id], record.total))
            if campaign_id in active:
                recent.append((campaign_id, progress.sent if progress is not None else 0))
            if progress is not None:
                sent += progress.sent
                failed += progress.failed
                if progress.finished_ms is not None and progress.started_ms is not None:
                    durations.append(progress.finished_ms - progress.started_ms)
        totals = TotalsPublic(sent=sent, failed=failed)
        average_ms = round(sum(durations) / len(durations)) if durations else None
        funnel = _funnel_totals(recent, funnels)
        lag = await self._lag.lag() if user.is_admin else {}
        held = await asyncio.gather(*(self._held.counts(r.id) for r, _ in running))
        messages = MessageCounts(completed=sent, failed=failed)
        for (record, progress), held_counts in zip(running, held, strict=True):
            messages.add(record, progress, sum(held_counts.values()))
        return DashboardMetricsPublic(
            campaign_queue=CampaignQueueCountsPublic(
                waiting=counts[QUEUED],
                active=counts[SENDING] + counts[THROTTLED],
                completed=counts[COMPLETED],
                failed=counts[FAILED],
                delayed=counts[SCHEDULED],
                paused=counts[PAUSED],
                scheduled=counts[SCHEDULED],
                draft=counts[DRAFT],
                stopped=counts[STOPPED],
            ),
            processing_queue=ProcessingQueuePublic(
                waiting=messages.waiting,
                active=messages.active,
                completed=messages.completed,
                failed=messages.failed,
                delayed=messages.delayed,
                in_flight_batches=in_flight,
                pending_messages=pending,
                consumer_lag=lag_by_topic(lag or {}),
                consumer_groups=lag or {},
            ),
            totals=totals,
            account=AccountPublic.of(combined(accounts)),
            funnel=funnel,
            system=await self._system.metrics(
                user.is_admin,
                lag,
                totals,
                counts[COMPLETED] + counts[FAILED] + counts[STOPPED],
                average_ms,
                funnel,
            ),
        )


def _funnel_totals(campaigns: list[tuple[str, int]], funnels: dict[str, Funnel]) -> FunnelPublic:
    shown = [funnels[campaign_id] for campaign_id, _ in campaigns]
    return FunnelPublic(
        accepted=sum(accepted for _, accepted in campaigns),
        sent=sum(f.sent for f in shown),
        delivered=sum(f.delivered for f in shown),
        read=sum(f.read for f in shown),
        failed=sum(f.failed for f in shown),
        undelivered=sum(f.undelivered for f in shown),
    )
