"""Campaign rules: create, start, control and read campaigns on behalf of a user.

Knows nothing of HTTP: problems are raised as domain errors (see errors.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from redis.exceptions import RedisError

from services.api.audience import IndexedRecipient, request_recipients
from services.api.auth import User
from services.api.contacts_store import Contact, ContactStore
from services.api.errors import CampaignNotFound, EventNotWritten, IllegalTransition, InvalidInput
from services.api.estimate import longest_window_wait_ms, time_to_send_ms
from services.api.models import AudienceItem, CampaignCreate
from services.api.personalised import personalised_audience
from services.api.phones import require_phone
from services.api.publisher import CampaignEventPublisher
from services.api.queue_status import QueueStatus, is_running, queue_status, unsent, with_funnel
from services.api.senders import alive_breakers, breaker_verdict, heartbeats_key
from services.api.settings import ApiSettings
from shared.events.models import CampaignScheduled
from shared.lifecycle import (
    CONTROLS,
    DRAFT,
    FINAL,
    NOT_STARTED,
    PAUSED,
    QUEUED,
    SCHEDULED,
    STOPPED,
    move,
)
from shared.priority import weight
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore, started_event
from shared.store.funnel import FunnelStore
from shared.store.held import HeldCommands
from shared.store.progress import ProgressStore

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTACT_LOOKUP_CHUNK = 1_000
# Recipients whose time zones estimate the wait for a send window to open.
WINDOW_SAMPLE = 1_000
# Audiences longer than this have their phones parsed and messages filled in a worker
# thread: 20,000 phones take about a second, which would stall every other request.
OFF_LOOP_FROM = 500
# Campaign ids are uuid4s, retry runs' `<id>-retry-<n>`, older systems' ids similar:
# never a ':', which would make the id name another Redis key (`<id>:audience`).
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _off_the_loop_if_large(size: int, work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work) if size > OFF_LOOP_FROM else work()


def _require_campaign_id(campaign_id: str) -> None:
    if not CAMPAIGN_ID.match(campaign_id):
        raise CampaignNotFound(campaign_id)


class CampaignService:
    def __init__(
        self,
        settings: ApiSettings,
        campaigns: CampaignStore,
        progress: ProgressStore,
        contacts: ContactStore,
        publisher: CampaignEventPublisher,
        held: HeldCommands,
        funnels: FunnelStore | None = None,
        changed: Callable[[str | None], Awaitable[None]] | None = None,
    ) -> None:
        """``changed(owner_id)`` is awaited after a request changes a campaign of that
        owner (None: a campaign without one): the dashboard drops its cached summary."""
        self._settings = settings
        self._keys = Keys(settings.redis_key_prefix)
        self._held = held
        self._funnels = funnels
        self._changed = changed
        self._campaigns = campaigns
        self._progress = progress
        self._contacts = contacts
        self._publisher = publisher

    def _default_expiry(self, scheduled_at: datetime | None) -> datetime | None:
        expiry_s = self._settings.campaign_default_expiry_s
        if not expiry_s:
            return None
        try:
            return (scheduled_at or _now()) + timedelta(seconds=expiry_s)
        except OverflowError:
            # Later than datetime can count (a scheduledAt late in year 9999): never expires.
            return None

    async def create(self, user: User, body: CampaignCreate) -> tuple[CampaignRecord, int]:
        """Store the definition and its audience; a future ``scheduledAt`` schedules it.

        Returns the campaign and how many contacts were left out for lacking a variable
        the message names (``missingVars: skip``).
        """
        region = self._settings.default_phone_region
        from_number = (
            require_phone(body.from_number, region, ("body", "fromNumber"))
            if body.from_number
            else None
        )
        sid = body.messaging_service_sid
        if sid is not None and self._settings.sender_directory.pool(sid) is None:
            raise InvalidInput(
                ("body", "messagingServiceSid"),
                "not a configured Messaging Service (MESSAGING_SERVICES)",
                sid,
            )
        content = body.message.to_content()
        indexed = await self._audience(user, body.contacts)
        audience, skipped = await _off_the_loop_if_large(
            len(indexed), lambda: personalised_audience(content, indexed, body.missing_vars)
        )
        record = CampaignRecord(
            id=str(uuid.uuid4()),
            owner_id=user.id,
            name=body.name,
            status=SCHEDULED if body.scheduled_at else DRAFT,
            priority=body.priority,
            content=content,
            from_number=from_number,
            messaging_service_sid=sid,
            send_window=body.send_window,
            total=len(audience),
            created_at=_now(),
            scheduled_at=body.scheduled_at,
            expires_at=body.expires_at or self._default_expiry(body.scheduled_at),
        )
        # The audience first: a campaign record is never visible without it.
        await self._campaigns.append_audience(record.id, audience)
        await self._campaigns.save(record)
        if body.scheduled_at is not None:
            await self._schedule(record, body.scheduled_at)
        await self._notify(record.owner_id)
        log.info(
            "campaign created",
            extra={
                "campaign_id": record.id,
                "owner_id": user.id,
                "contacts": record.total,
                "skipped_for_missing_vars": skipped,
                "status": record.status,
            },
        )
        return record, skipped

    async def _schedule(self, record: CampaignRecord, due: datetime) -> None:
        try:
            await self._publisher.publish(
                CampaignScheduled(campaign_id=record.id, scheduled_at=due)
            )
        except EventNotWritten:
            await move(self._campaigns, record.id, (SCHEDULED,), DRAFT, scheduled_at="")
            raise
        await self._campaigns.schedule(record.id, due)
        await self._campaigns.mark_active(record.id)

    async def _audience(self, user: User, items: Sequence[AudienceItem]) -> list[IndexedRecipient]:
        """Recipients in request order, each with its index in the request; phones in
        E.164; a stored contact listed twice once."""
        stored_ids = list(dict.fromkeys(i.contact_id for i in items if i.contact_id is not None))
        stored: dict[str, Contact | None] = {}
        for start in range(0, len(stored_ids), CONTACT_LOOKUP_CHUNK):
            chunk = stored_ids[start : start + CONTACT_LOOKUP_CHUNK]
            found = await self._contacts.get_many(user.id, chunk)
            stored.update(zip(chunk, found, strict=True))
        region = self._settings.default_phone_region
        return await _off_the_loop_if_large(
            len(items), lambda: request_recipients(items, stored, region)
        )

    async def get(self, user: User, campaign_id: str) -> CampaignRecord:
        """A campaign the user may see: their own, or one with no owner."""
        _require_campaign_id(campaign_id)
        record = await self._campaigns.get(campaign_id)
        if record is None or not user.may_see(record.owner_id):
            raise CampaignNotFound(campaign_id)
        return record

    async def list_own(self, user: User, page: int, limit: int) -> tuple[list[CampaignRecord], int]:
        ids, total = await self._campaigns.list_for_owner(user.id, (page - 1) * limit, limit)
        records = await self._campaigns.get_many(ids)
        return [record for record in records if record is not None], total

    async def start(self, user: User, campaign_id: str) -> tuple[CampaignRecord, int]:
        """Queue the campaign and write its CampaignStarted; returns it and the estimate in ms."""
        record = await self.get(user, campaign_id)
        if record.status not in NOT_STARTED:
            raise IllegalTransition(campaign_id, record.status, "start")
        size = await self._campaigns.audience_size(campaign_id)
        job_id = f"campaign_{campaign_id}_{_ms(_now())}"
        moved, found = await move(
            self._campaigns, campaign_id, NOT_STARTED, QUEUED, job_id=job_id, total=str(size)
        )
        if not moved:  # another request started it in between
            raise IllegalTransition(campaign_id, found, "start")
        if record.status == SCHEDULED:
            await self._campaigns.unschedule(campaign_id)
        record = record.model_copy(update={"status": QUEUED, "job_id": job_id, "total": size})
        others = await self.running_backlog(exclude=campaign_id)
        event = started_event(record, self._campaigns.audience_key(campaign_id), size)
        try:
            await self._publisher.publish(event)
        except EventNotWritten:
            await move(self._campaigns, campaign_id, (QUEUED,), found or DRAFT, job_id="")
            if found == SCHEDULED and record.scheduled_at is not None:
                await self._campaigns.schedule(campaign_id, record.scheduled_at)
            raise
        await self._campaigns.mark_active(campaign_id)
        await self._notify(record.owner_id)
        estimated_ms = time_to_send_ms(
            size, weight(record.priority), others, self._settings.twilio_rate_limit_per_second
        )
        if record.send_window is not None:
            sample = await self._campaigns.audience_slice(campaign_id, 0, WINDOW_SAMPLE)
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
        record = await self.get(user, campaign_id)
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
            async for chunk in self._campaigns.iter_audience(campaign_id)
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
        await self._campaigns.append_audience(run_id, recipients)
        await self._campaigns.save(run)
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
        record = await self.get(user, campaign_id)
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
        await self._notify(record.owner_id)
        log.info(
            "campaign control requested",
            extra={"campaign_id": campaign_id, "action": action, "requested_by": user.id},
        )
        return record.model_copy(update={"status": status})

    async def _notify(self, owner_id: str | None) -> None:
        if self._changed is None:
            return
        try:
            await self._changed(owner_id)
        except (RedisError, OSError) as error:
            # The change is made; a dashboard shows it once its short cache expires.
            log.warning("cannot drop cached dashboards", extra={"reason": repr(error)})

    async def queue_status(self, user: User, campaign_id: str) -> QueueStatus:
        """The campaign, its progress, held commands, funnel and the senders' breakers,
        read in one round trip (one non-transactional pipeline): a dashboard polls this."""
        _require_campaign_id(campaign_id)
        async with self._campaigns.pipeline() as pipe:
            # Each store queues its reads; marks[i] is where the replies of part i end.
            marks = []
            for queue in (
                self._campaigns.queue_get,
                self._progress.queue_read,
                self._held.queue_counts,
                *([self._funnels.queue_read] if self._funnels is not None else []),
            ):
                queue(pipe, campaign_id)
                marks.append(len(pipe))
            pipe.hgetall(heartbeats_key(self._keys))
            replies = await pipe.execute()
        raw_record, raw_progress, raw_held, *raw_funnel = (
            replies[begin:end] for begin, end in itertools.pairwise([0, *marks])
        )
        record = self._campaigns.parse_get(*raw_record)
        if record is None or not user.may_see(record.owner_id):
            raise CampaignNotFound(campaign_id)
        progress = self._progress.parse_read(*raw_progress)
        status = queue_status(
            record, progress, _ms(_now()), dict(self._held.parse_counts(raw_held))
        )
        if self._funnels is not None:
            status = with_funnel(status, progress, self._funnels.parse_read(*raw_funnel[0]))
        if is_running(record, progress):
            beats = alive_breakers(replies[-1], self._settings.worker_heartbeat_timeout_s)
            status = status.model_copy(update={"circuit_breaker": breaker_verdict(beats.values())})
        return status
