"""Campaign rules: read, start and control campaigns on behalf of a user (creating one
is campaign_creation.py's).

Knows nothing of HTTP: problems are raised as domain errors (see errors.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from services.api.auth import User
from services.api.current_records import CurrentRecords
from services.api.errors import CampaignNotFound, EventNotWritten, IllegalTransition
from services.api.estimate import longest_window_wait_ms, time_to_send_ms
from services.api.publisher import CampaignEventPublisher
from services.api.queue_status import is_running, queue_status, unsent
from services.api.schemas.queue_status import CampaignQueueStatusPublic
from services.api.senders import alive_breakers, breaker_verdict, heartbeats_key
from services.api.settings import ApiSettings
from shared.campaign_start import start_campaign
from shared.lifecycle import (
    CONTROLS,
    DRAFT,
    FINAL,
    NOT_STARTED,
    PAUSED,
    SCHEDULED,
    STOPPED,
    move,
)
from shared.priority import weight
from shared.redis import Keys
from shared.store.campaign_status import parse_entry
from shared.store.campaigns import CampaignRecord, CampaignStore, StatusHistoryEntry
from shared.store.funnel import FunnelStore
from shared.store.holding import HoldingStore
from shared.store.progress import ProgressStore
from shared.store.recipients import RecipientStore

log = logging.getLogger(__name__)

# Recipients whose time zones estimate the wait for a send window to open.
WINDOW_SAMPLE = 1_000
# Campaign ids are uuid4s, retry runs' `<id>-retry-<n>`, older systems' ids similar:
# never a ':', which would make the id name another Redis key (`<id>:audience`).
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
Changed = Callable[[str | None], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _require_campaign_id(campaign_id: str) -> None:
    if not CAMPAIGN_ID.match(campaign_id):
        raise CampaignNotFound(campaign_id)


async def notify_changed(changed: Changed | None, owner_id: str | None) -> None:
    """Await ``changed(owner_id)`` after a request changed a campaign of that owner (None:
    a campaign without one), so that the dashboard drops its cached summary."""
    if changed is None:
        return
    try:
        await changed(owner_id)
    except (RedisError, OSError) as error:
        # The change is made; a dashboard shows it once its short cache expires.
        log.warning("cannot drop cached dashboards", extra={"reason": repr(error)})


class CampaignReader:
    """The campaigns a user may see, and their queue status."""

    def __init__(
        self,
        settings: ApiSettings,
        campaigns: CampaignStore,
        progress: ProgressStore,
        held: HoldingStore,
        funnels: FunnelStore | None = None,
    ) -> None:
        self._settings = settings
        self._keys = Keys(settings.redis_key_prefix)
        self._campaigns = campaigns
        self._progress = progress
        self._held = held
        self._funnels = funnels
        self._records = CurrentRecords(campaigns)

    async def get(self, user: User, campaign_id: str) -> CampaignRecord:
        """A campaign the user may see: their own, or one with no owner."""
        _require_campaign_id(campaign_id)
        record = await self._campaigns.get(campaign_id)
        if record is None or not user.may_see(record.owner_id):
            raise CampaignNotFound(campaign_id)
        return record

    async def history(self, user: User, campaign_id: str) -> list[StatusHistoryEntry]:
        await self.get(user, campaign_id)
        return await self._campaigns.history(campaign_id)

    async def list_own(
        self, user: User, offset: int, limit: int
    ) -> tuple[list[CampaignRecord], int]:
        """The user's campaigns, newest first, from ``offset``; and how many they have."""
        return await self._campaigns.list_for_owner(user.id, offset, limit)

    async def queue_status(self, user: User, campaign_id: str) -> CampaignQueueStatusPublic:
        """The campaign's status copy, progress, held commands, funnel and the senders'
        breakers in one Redis round trip (a non-transactional pipeline), and its record
        from PostgreSQL only when the copy says it changed (current_records.py): a
        dashboard polls this."""
        _require_campaign_id(campaign_id)
        replies, marks = await self._live_state(campaign_id)
        raw_copy, raw_progress, [retryable], raw_held, *raw_funnel = (
            replies[begin:end] for begin, end in itertools.pairwise([0, *marks])
        )
        copy = parse_entry(raw_copy[0])
        record = await self._records.get(campaign_id, copy[0] if copy is not None else None)
        if record is None or not user.may_see(record.owner_id):
            raise CampaignNotFound(campaign_id)
        progress = self._progress.parse_read(*raw_progress)
        funnel = self._funnels.parse_read(*raw_funnel[0]) if self._funnels is not None else None
        status = queue_status(
            record,
            progress,
            _ms(_now()),
            dict(self._held.parse_counts(raw_held)),
            funnel,
            retryable_failures=retryable,
        )
        if is_running(record, progress):
            beats = alive_breakers(replies[-1], self._settings.worker_heartbeat_timeout_s)
            status = status.model_copy(update={"circuit_breaker": breaker_verdict(beats.values())})
        return status

    async def _live_state(self, campaign_id: str) -> tuple[list[Any], list[int]]:
        """The Redis replies for :meth:`queue_status`, and where each store's end."""
        async with self._campaigns.pipeline() as pipe:
            # Each store queues its reads; marks[i] is where the replies of part i end.
            marks = []
            for queue in (
                self._campaigns.status_cache.queue_read,
                self._progress.queue_read,
                self._progress.queue_retryable_count,
                self._held.queue_counts,
                *([self._funnels.queue_read] if self._funnels is not None else []),
            ):
                queue(pipe, campaign_id)
                marks.append(len(pipe))
            pipe.hgetall(heartbeats_key(self._keys))
            return await pipe.execute(), marks


class CampaignService:
    """Moves a user's campaigns on: start, retry the failed contacts, pause, resume, stop."""

    def __init__(
        self,
        settings: ApiSettings,
        reader: CampaignReader,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        progress: ProgressStore,
        publisher: CampaignEventPublisher,
        changed: Changed | None = None,
    ) -> None:
        """``changed``: see :func:`notify_changed`."""
        self._settings = settings
        self._reader = reader
        self._campaigns = campaigns
        self._recipients = recipients
        self._progress = progress
        self._publisher = publisher
        self._changed = changed

    async def start(self, user: User, campaign_id: str) -> tuple[CampaignRecord, int]:
        """Queue the campaign and write its CampaignStarted; returns it and the estimate in ms."""
        record = await self._reader.get(user, campaign_id)
        if record.status not in NOT_STARTED:
            raise IllegalTransition(campaign_id, record.status, "start")
        others = await self.running_backlog(exclude=campaign_id)
        start = await start_campaign(
            self._campaigns,
            self._recipients,
            campaign_id,
            NOT_STARTED,
            self._publisher.publish,
            _now(),
        )
        if start.record is None:  # another request started it in between
            raise IllegalTransition(campaign_id, start.found, "start")
        record, size, job_id = start.record, start.size, start.record.job_id
        await self._campaigns.mark_active(campaign_id)
        await notify_changed(self._changed, record.owner_id)
        estimated_ms = time_to_send_ms(
            size, weight(record.priority), others, self._settings.twilio_rate_limit_per_second
        )
        if record.send_window is not None:
            sample = await self._recipients.page(campaign_id, 0, WINDOW_SAMPLE)
            estimated_ms += longest_window_wait_ms(record.send_window, sample, _ms(_now()))
        log.info(
            "campaign started",
            extra={"campaign_id": campaign_id, "job_id": job_id, "contacts": size},
        )
        return record, estimated_ms

    async def retry_failed(self, user: User, campaign_id: str) -> tuple[CampaignRecord, int]:
        """A new run of a finished campaign to the contacts whose failure was retryable.

        Never to a sent, skipped or permanently failed contact; the run has its own id
        and counts, and the original campaign's stay as they were.
        """
        record = await self._reader.get(user, campaign_id)
        if record.status not in FINAL:
            raise IllegalTransition(campaign_id, record.status, "retry-failed")
        retryable = await self._progress.take_retryable_failures(campaign_id)
        contacts = await self._progress.definitely_failed(campaign_id, retryable)
        if not contacts:
            raise IllegalTransition(
                campaign_id, record.status, "retry-failed", "no retryable failure to send again"
            )
        number = await self._campaigns.next_retry_number(campaign_id)
        run_id = f"{campaign_id}-retry-{number}"
        recipients = [
            recipient
            async for chunk in self._recipients.pages(campaign_id)
            for recipient in chunk
            if recipient.contact_id in contacts
        ]
        run = record.model_copy(
            update={
                "id": run_id,
                "name": f"{record.name} (retry {number})",
                "status": DRAFT,
                "total": len(recipients),
                "job_id": None,
                "created_at": _now(),
                "scheduled_at": None,
                "started_at": None,
                "finished_at": None,
            }
        )
        await self._recipients.freeze(run_id, recipients)
        await self._campaigns.create(run)
        log.info(
            "retry run created",
            extra={"campaign_id": campaign_id, "run_id": run_id, "contacts": len(recipients)},
        )
        return await self.start(user, run_id)

    async def running_backlog(self, exclude: str | None = None) -> list[tuple[int, int]]:
        """Contacts still waiting in each running campaign, with its priority weight;
        drops finished campaigns from the active set."""
        ids = [i for i in await self._campaigns.active_ids() if i != exclude]
        records = await self._campaigns.get_many(ids)
        progresses = await asyncio.gather(*(self._progress.read(i) for i in ids))
        waiting: list[tuple[int, int]] = []
        finished = []
        for campaign_id, record, progress in zip(ids, records, progresses, strict=True):
            if record is None or (
                record.status not in NOT_STARTED and not is_running(record, progress)
            ):
                finished.append(campaign_id)
            elif is_running(record, progress) and record.status != PAUSED:
                # A paused campaign takes no share of the rate while it is paused.
                waiting.append((unsent(record, progress), weight(record.priority)))
        await self._campaigns.mark_inactive(*finished)
        return waiting

    async def control(self, user: User, campaign_id: str, action: str) -> CampaignRecord:
        """Pause, resume or stop: write the event, then set the status it leads to."""
        record = await self._reader.get(user, campaign_id)
        control = CONTROLS[action]
        status = control.status
        # Atomic: of two concurrent requests, one moves the campaign, the other gets 409.
        moved, found = await move(self._campaigns, campaign_id, control.allowed_from, status)
        if not moved:
            raise IllegalTransition(campaign_id, found, action)
        try:
            await self._publisher.publish(
                control.event(campaign_id=campaign_id, requested_by=user.id)
            )
        except EventNotWritten:
            await move(self._campaigns, campaign_id, (status,), found or record.status)
            raise
        if status == STOPPED and found == SCHEDULED:
            await self._campaigns.unschedule(campaign_id)
        await notify_changed(self._changed, record.owner_id)
        log.info(
            "campaign control requested",
            extra={"campaign_id": campaign_id, "action": action, "requested_by": user.id},
        )
        return record.model_copy(update={"status": status})
