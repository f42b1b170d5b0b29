"""Campaigns changed before they are started: edited, deleted, or copied as a new draft.

Knows nothing of HTTP: problems are raised as domain errors (see errors.py). An edit is
checked as a create is, on the campaign as it would be once changed (the stored fields
with the request's over them, through CampaignCreate), and written in one transaction
that finds the campaign still a draft or scheduled (shared/store/drafts.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.api.auth import User
from services.api.campaign_creation import CampaignCreator
from services.api.campaigns import CampaignReader, Changed, notify_changed
from services.api.errors import CampaignNotFound, EventNotWritten, IllegalTransition, InvalidInput
from services.api.personalised import AudienceCheck, personalised_audience
from services.api.publisher import CampaignEventPublisher
from services.api.schemas.campaigns import CampaignCreate
from services.api.schemas.drafts import CampaignUpdate
from shared.events.models import CampaignScheduled, MessageContent, Recipient, TextContent
from shared.lifecycle import DRAFT, NOT_STARTED, SCHEDULED
from shared.store.campaigns import CONTENT, CampaignRecord, CampaignStore
from shared.store.drafts import Audience, DraftStore, copied_audience_size
from shared.store.recipients import RecipientStore

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 200
COPY_SUFFIX = " (copy)"


def copy_name(name: str | None) -> str:
    """``<name> (copy)``, cut to fit the 200 characters a name may have."""
    return (name or "campaign")[: MAX_NAME_CHARS - len(COPY_SUFFIX)] + COPY_SUFFIX


def _message_of(content: MessageContent) -> dict[str, Any]:
    if isinstance(content, TextContent):
        return {"body": content.body}
    return {"contentSid": content.content_sid, "contentVariables": content.content_variables}


def _as_edited(record: CampaignRecord, patch: dict[str, Any]) -> CampaignCreate:
    """The campaign as a create body once ``patch`` (camelCase, as the request named
    its fields, so that errors name them so) is applied, validated as one; a stored
    time already past (a schedule about to fire) is not checked again."""
    now = datetime.now(UTC)
    stored: dict[str, Any] = {
        "name": record.name,
        "message": _message_of(record.content),
        "priority": record.priority,
        "fromNumber": record.from_number,
        "messagingServiceSid": record.messaging_service_sid,
        "sendWindow": record.send_window.model_dump() if record.send_window else None,
    }
    for field, moment in (("scheduledAt", record.scheduled_at), ("expiresAt", record.expires_at)):
        if moment is not None and moment > now:
            stored[field] = moment
    try:
        return CampaignCreate.model_validate({**stored, **patch})
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None


class CampaignDrafts:
    def __init__(
        self,
        reader: CampaignReader,
        creator: CampaignCreator,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        drafts: DraftStore,
        publisher: CampaignEventPublisher,
        changed: Changed | None = None,
    ) -> None:
        self._reader = reader
        self._creator = creator
        self._campaigns = campaigns
        self._recipients = recipients
        self._drafts = drafts
        self._publisher = publisher
        self._changed = changed

    async def edit(self, user: User, campaign_id: str, body: CampaignUpdate) -> CampaignRecord:
        """Change what ``body`` gives of a draft or scheduled campaign; IllegalTransition
        (409) once it has started."""
        record = await self._reader.get(user, campaign_id)
        if record.status not in NOT_STARTED:
            raise IllegalTransition(campaign_id, record.status, "edit")
        patch = body.model_dump(exclude_unset=True, by_alias=True)
        edited = _as_edited(record, patch)
        content = edited.message.to_content()
        from_number, sid = self._creator.sender_of(edited)
        fields: dict[str, Any] = {
            "name": edited.name,
            "priority": edited.priority,
            "content": CONTENT.dump_json(content).decode(),
            "from_number": from_number,
            "messaging_service_sid": sid,
            "send_window": edited.send_window.model_dump_json() if edited.send_window else None,
        }
        if "expiresAt" in patch:
            fields["expires_at"] = edited.expires_at
        status = None
        if "scheduledAt" in patch:
            due = edited.scheduled_at
            fields.update(scheduled_at=due, start_due_at=due, active=due is not None)
            status = SCHEDULED if due is not None else DRAFT
        audience = await self._audience(user, campaign_id, patch, edited, content)
        changed, found = await self._drafts.edit(
            campaign_id, NOT_STARTED, fields, status=status, audience=audience
        )
        if found is None:
            raise CampaignNotFound(campaign_id)
        if not changed:
            raise IllegalTransition(campaign_id, found, "edit")
        if status == SCHEDULED and edited.scheduled_at is not None:
            await self._announce_schedule(campaign_id, edited.scheduled_at)
        await notify_changed(self._changed, record.owner_id)
        log.info("campaign edited", extra={"campaign_id": campaign_id, "fields": sorted(patch)})
        return await self._reader.get(user, campaign_id)

    async def _audience(
        self,
        user: User,
        campaign_id: str,
        patch: dict[str, Any],
        edited: CampaignCreate,
        content: MessageContent,
    ) -> Audience | None:
        """The new audience to freeze, checked against the message; None to keep the
        stored one (checked here against a new message)."""
        missing_vars = edited.missing_vars
        if "contacts" in patch or "listId" in patch:
            if (edited.contacts is None) == (edited.list_id is None):
                raise InvalidInput(
                    ("body", "contacts" if edited.contacts is None else "listId"),
                    "give the audience as contacts, or listId to send to one of your lists"
                    if edited.contacts is None
                    else "give either contacts or listId, not both",
                )
            if edited.list_id is not None:
                check = AudienceCheck(
                    content,
                    missing_vars,
                    loc=("body", "listId"),
                    where=lambda index: f"member {index + 1} of the list",
                )
                return _checked(await self._creator.list_pages(user, edited.list_id), check)
            indexed = await self._creator.audience(user, edited.contacts or [])
            kept, _ = await asyncio.to_thread(personalised_audience, content, indexed, missing_vars)
            return kept
        if "message" in patch:
            check = AudienceCheck(
                content,
                missing_vars,
                loc=("body", "message"),
                where=lambda index: f"recipient {index + 1} of the campaign",
            )
            index = 0
            async for page in self._recipients.pages(campaign_id):
                await asyncio.to_thread(_kept, check, index, list(page))
                index += len(page)
            check.finish()
            if check.skipped:
                raise InvalidInput(
                    ("body", "missingVars"),
                    "to leave contacts out of the stored audience, give it again "
                    "(contacts or listId) with the new message",
                )
        return None

    async def _announce_schedule(self, campaign_id: str, due: datetime) -> None:
        """CampaignScheduled for the new time; back to a draft when Kafka refuses it,
        as a create does: the schedule is not kept without its event."""
        try:
            await self._publisher.publish(
                CampaignScheduled(campaign_id=campaign_id, scheduled_at=due)
            )
        except EventNotWritten:
            await self._drafts.edit(
                campaign_id,
                (SCHEDULED,),
                {"scheduled_at": None, "start_due_at": None, "active": False},
                status=DRAFT,
            )
            raise

    async def delete(self, user: User, campaign_id: str) -> None:
        """Delete a draft or scheduled campaign, its history and audience; 409 otherwise."""
        record = await self._reader.get(user, campaign_id)
        if record.status not in NOT_STARTED:
            raise IllegalTransition(campaign_id, record.status, "delete")
        deleted, found = await self._drafts.delete(campaign_id, NOT_STARTED)
        if found is None:
            raise CampaignNotFound(campaign_id)
        if not deleted:
            raise IllegalTransition(campaign_id, found, "delete")
        await notify_changed(self._changed, record.owner_id)
        log.info("campaign deleted", extra={"campaign_id": campaign_id, "requested_by": user.id})

    async def clone(self, user: User, campaign_id: str) -> CampaignRecord:
        """A new draft of the user's with the campaign's definition and audience, in any
        status; 409 when the audience is no longer kept (its retention passed)."""
        record = await self._reader.get(user, campaign_id)
        now = datetime.now(UTC)
        copy = CampaignRecord(
            id=str(uuid.uuid4()),
            owner_id=user.id,
            name=copy_name(record.name),
            status=DRAFT,
            priority=record.priority,
            content=record.content,
            from_number=record.from_number,
            messaging_service_sid=record.messaging_service_sid,
            send_window=record.send_window,
            created_at=now,
            expires_at=self._creator.default_expiry(None),
        )
        # The audience first: a campaign record is never visible without it.
        size = await copied_audience_size(self._drafts, campaign_id, copy.id)
        if size == 0:
            raise IllegalTransition(
                campaign_id,
                record.status,
                "clone",
                "its audience is no longer kept (recipients go 7 days after a campaign ends)",
            )
        copy = copy.model_copy(update={"total": size})
        await self._campaigns.create(copy)
        await notify_changed(self._changed, copy.owner_id)
        log.info("campaign cloned", extra={"campaign_id": copy.id, "cloned_from": campaign_id})
        return copy


async def _checked(
    pages: AsyncIterator[list[Recipient]], check: AudienceCheck
) -> AsyncIterator[Recipient]:
    """A list's members that the check keeps, streamed; the check finished at the end."""
    index = 0
    async for page in pages:
        for recipient in await asyncio.to_thread(_kept, check, index, page):
            yield recipient
        index += len(page)
    check.finish()


def _kept(check: AudienceCheck, first_index: int, page: list[Recipient]) -> list[Recipient]:
    return [r for index, r in enumerate(page, start=first_index) if check.keep(index, r)]
