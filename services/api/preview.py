"""A campaign's messages as they would be sent, before anything is sent or stored.

Rendered by shared/personalise.py's ``personalise``, the dispatcher's own function, and
checked by services/api/personalised.py's AudienceCheck, the create's own check: a
preview cannot show what the send would not do. The whole audience is checked (in pages,
off the event loop), so that ``missingVariables`` counts every recipient; only the first
``limit`` are rendered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from services.api.auth import User
from services.api.campaign_creation import CampaignCreator
from services.api.campaigns import CampaignReader
from services.api.errors import InvalidInput
from services.api.personalised import AudienceCheck
from services.api.schemas.before_send import (
    CampaignPreviewCreate,
    CampaignPreviewPublic,
    MessagePreviewPublic,
    MissingVariablePublic,
)
from shared.events.models import MessageContent, Recipient, TextContent
from shared.personalise import UnsendableContent, contact_fields, personalise
from shared.store.recipients import RecipientStore

# Recipients checked in one go off the event loop.
CHECK_PAGE = 5_000


def rendered(content: MessageContent, recipient: Recipient, position: int) -> MessagePreviewPublic:
    """One recipient's message, personalised as the dispatcher does it."""
    try:
        message = personalise(content, contact_fields(recipient, recipient.phone))
    except UnsendableContent as reason:
        raise InvalidInput(("body", "message"), str(reason), {"position": position}) from None
    if isinstance(message, TextContent):
        text, sid, variables = message.body, None, None
    else:
        text, sid, variables = None, message.content_sid, dict(message.content_variables)
    return MessagePreviewPublic(
        position=position,
        phone=recipient.phone,
        name=recipient.name,
        text=text,
        content_sid=sid,
        content_variables=variables,
    )


async def preview(
    content: MessageContent,
    pages: AsyncIterable[Sequence[Recipient]],
    limit: int,
    campaign_id: str | None = None,
) -> CampaignPreviewPublic:
    """The first ``limit`` recipients' messages and what the whole audience lacks."""
    check = AudienceCheck(content, "empty")
    first: list[MessagePreviewPublic] = []
    total = 0
    async for page in pages:
        for start in range(0, len(page), CHECK_PAGE):
            chunk = page[start : start + CHECK_PAGE]
            await asyncio.to_thread(_check_all, check, total, chunk)
            first.extend(
                rendered(content, recipient, total + offset)
                for offset, recipient in enumerate(chunk[: max(0, limit - len(first))])
            )
            total += len(chunk)
    return CampaignPreviewPublic(
        campaign_id=campaign_id,
        total_recipients=total,
        messages=first,
        missing_variables=[
            MissingVariablePublic(variable=name, count=count)
            for name, count in check.lacking.items()
        ],
    )


def _check_all(check: AudienceCheck, first_index: int, chunk: Sequence[Recipient]) -> None:
    for index, recipient in enumerate(chunk, start=first_index):
        check.keep(index, recipient)


class CampaignPreviewer:
    """Previews of a stored campaign, and of a create body before it is stored."""

    def __init__(
        self, reader: CampaignReader, creator: CampaignCreator, recipients: RecipientStore
    ) -> None:
        self._reader = reader
        self._creator = creator
        self._recipients = recipients

    async def of_campaign(self, user: User, campaign_id: str, limit: int) -> CampaignPreviewPublic:
        record = await self._reader.get(user, campaign_id)
        return await preview(record.content, self._recipients.pages(campaign_id), limit, record.id)

    async def of_body(self, user: User, body: CampaignPreviewCreate) -> CampaignPreviewPublic:
        if (body.contacts is None) == (body.list_id is None):
            raise InvalidInput(
                ("body", "contacts" if body.contacts is None else "listId"),
                "give the audience as contacts, or listId to preview one of your lists"
                if body.contacts is None
                else "give either contacts or listId, not both",
            )
        if body.list_id is not None:
            pages = await self._creator.list_pages(user, body.list_id)
        else:
            indexed = await self._creator.audience(user, body.contacts or [])
            pages = _one_page([recipient for _, recipient in indexed])
        return await preview(body.message.to_content(), pages, body.limit)


async def _one_page(recipients: list[Recipient]) -> AsyncIterator[list[Recipient]]:
    yield recipients
