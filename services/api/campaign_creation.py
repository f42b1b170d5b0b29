"""Creating a campaign: its audience read and checked, its definition stored, and a
scheduled one's CampaignScheduled written.

Knows nothing of HTTP: problems are raised as domain errors (see errors.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from services.api.audience import IndexedRecipient, request_recipients
from services.api.auth import User
from services.api.campaigns import Changed, notify_changed
from services.api.contacts_store import Contact, ContactStore
from services.api.errors import EventNotWritten, InvalidInput
from services.api.lists_store import MEMBER_PAGE, ListStore
from services.api.personalised import AudienceCheck, personalised_audience
from services.api.phones import require_phone
from services.api.publisher import CampaignEventPublisher
from services.api.schemas.campaigns import AudienceItemCreate, CampaignCreate
from services.api.settings import ApiSettings
from shared.events.models import CampaignScheduled, Recipient
from shared.lifecycle import DRAFT, SCHEDULED, move
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.recipients import RecipientStore

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTACT_LOOKUP_CHUNK = 1_000
# Audiences longer than this have their phones parsed and messages filled in a worker
# thread: 20,000 phones take about a second, which would stall every other request.
OFF_LOOP_FROM = 500


async def _off_the_loop_if_large(size: int, work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work) if size > OFF_LOOP_FROM else work()


class CampaignCreator:
    """A user's new campaign: a draft, or scheduled when it names a time."""

    def __init__(
        self,
        settings: ApiSettings,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        contacts: ContactStore,
        lists: ListStore,
        publisher: CampaignEventPublisher,
        changed: Changed | None = None,
    ) -> None:
        """``changed``: see :func:`services.api.campaigns.notify_changed`."""
        self._lists = lists
        self._settings = settings
        self._campaigns = campaigns
        self._recipients = recipients
        self._contacts = contacts
        self._publisher = publisher
        self._changed = changed

    def default_expiry(self, scheduled_at: datetime | None) -> datetime | None:
        expiry_s = self._settings.campaign_default_expiry_s
        if not expiry_s:
            return None
        try:
            return (scheduled_at or datetime.now(UTC)) + timedelta(seconds=expiry_s)
        except OverflowError:
            # Later than datetime can count (a scheduledAt late in year 9999): never expires.
            return None

    async def create(self, user: User, body: CampaignCreate) -> tuple[CampaignRecord, int]:
        """Store the definition and its audience; a future ``scheduledAt`` schedules it.

        Returns the campaign and how many contacts were left out for lacking a variable
        the message names (``missingVars: skip``).
        """
        from_number, sid = self.sender_of(body)
        content = body.message.to_content()
        if (body.contacts is None) == (body.list_id is None):
            raise InvalidInput(
                ("body", "contacts" if body.contacts is None else "listId"),
                "give the audience as contacts, or listId to send to one of your lists"
                if body.contacts is None
                else "give either contacts or listId, not both",
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
            created_at=datetime.now(UTC),
            scheduled_at=body.scheduled_at,
            expires_at=body.expires_at or self.default_expiry(body.scheduled_at),
        )
        # The audience first: a campaign record is never visible without it.
        if body.list_id is not None:
            total, skipped = await self._freeze_list(
                user,
                body.list_id,
                record.id,
                AudienceCheck(
                    content,
                    body.missing_vars,
                    loc=("body", "listId"),
                    where=lambda index: f"member {index + 1} of the list",
                ),
            )
        else:
            indexed = await self.audience(user, body.contacts or [])
            audience, skipped = await _off_the_loop_if_large(
                len(indexed), lambda: personalised_audience(content, indexed, body.missing_vars)
            )
            total = await self._recipients.freeze(record.id, audience)
        record = record.model_copy(update={"total": total})
        await self._campaigns.create(record)
        if body.scheduled_at is not None:
            await self._schedule(record, body.scheduled_at)
        await notify_changed(self._changed, record.owner_id)
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

    def sender_of(self, body: CampaignCreate) -> tuple[str | None, str | None]:
        """The body's ``fromNumber`` in E.164 and its ``messagingServiceSid``, checked:
        InvalidInput naming the field when either is not one we can send from."""
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
        return from_number, sid

    async def _schedule(self, record: CampaignRecord, due: datetime) -> None:
        try:
            await self._publisher.publish(
                CampaignScheduled(campaign_id=record.id, scheduled_at=due)
            )
        except EventNotWritten:
            await move(self._campaigns, record.id, (SCHEDULED,), DRAFT, scheduled_at="")
            raise
        await self._campaigns.schedule(record.id, due)

    async def _freeze_list(
        self, user: User, list_id: str, campaign_id: str, check: AudienceCheck
    ) -> tuple[int, int]:
        """Freeze a list's members as the campaign's audience, streamed: a page of
        members read by key, checked off the event loop, copied in; a check that fails
        (even at the end, for missing variables) leaves nothing written. Returns how
        many were frozen and how many skipped."""
        pages = await self.list_pages(user, list_id)

        async def members() -> AsyncIterator[Recipient]:
            index = 0
            async for recipients in pages:
                kept = await asyncio.to_thread(_kept, check, index, recipients)
                index += len(recipients)
                for recipient in kept:
                    yield recipient
            check.finish()

        return await self._recipients.freeze(campaign_id, members()), check.skipped

    async def list_pages(self, user: User, list_id: str) -> AsyncIterator[list[Recipient]]:
        """The members of one of the user's lists as recipients, a page at a time, in
        the order they joined; InvalidInput (``listId``) when the user has no such list."""
        if await self._lists.get(user.id, list_id) is None:
            raise InvalidInput(("body", "listId"), "none of your lists has this id", list_id)

        async def pages() -> AsyncIterator[list[Recipient]]:
            after: int | None = 0
            while after is not None:
                page, after = await self._lists.members(user.id, list_id, after, MEMBER_PAGE)
                yield [
                    Recipient(
                        contact_id=contact.id or "",
                        phone=contact.phone,
                        name=contact.name,
                        vars=contact.vars,
                    )
                    for contact in page
                ]

        return pages()

    async def audience(
        self, user: User, items: Sequence[AudienceItemCreate]
    ) -> list[IndexedRecipient]:
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


def _kept(check: AudienceCheck, first_index: int, page: list[Recipient]) -> list[Recipient]:
    return [r for index, r in enumerate(page, start=first_index) if check.keep(index, r)]
