"""Request bodies of the drafts routes: a campaign edited before it is started."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field, field_validator

from services.api.schemas.base import MAX_AUDIENCE_ITEMS, ApiModel, ItemName
from services.api.schemas.campaigns import (
    AudienceItemCreate,
    CampaignCreate,
    MessageCreate,
    MissingVars,
    SendWindowCreate,
)
from shared.events.models import Priority
from shared.senders import MESSAGING_SERVICE_SID_PATTERN


class CampaignUpdate(ApiModel):
    """The fields to change; those left out stay as they are. Checked as a create is,
    on the campaign as it would be once changed."""

    name: ItemName | None = None
    message: MessageCreate | None = None
    priority: Priority | None = None
    scheduled_at: AwareDatetime | None = Field(
        default=None,
        description="A new time (a draft becomes scheduled), or null to make a scheduled "
        "campaign a draft again.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="Nothing is sent after this; null: never expires."
    )
    contacts: list[AudienceItemCreate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_AUDIENCE_ITEMS,
        description="A new audience, replacing the one frozen before (or give `listId`).",
    )
    list_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A new audience: one of your lists, frozen now.",
    )
    missing_vars: MissingVars = Field(
        default="error",
        description="As at create, for the new audience, or the stored one checked against "
        "a new message (`skip` then needs the audience given again).",
    )
    from_number: str | None = Field(default=None, max_length=64)
    messaging_service_sid: str | None = Field(default=None, pattern=MESSAGING_SERVICE_SID_PATTERN)
    send_window: SendWindowCreate | None = None

    @field_validator("contacts", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        # As at create: a 100,000-entry list is refused at once, not entry by entry.
        return CampaignCreate._not_too_many(value)
