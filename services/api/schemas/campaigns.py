"""Request and response bodies of the campaign endpoints, camelCase on the wire.

Shapes match the Bull-based system this API replaces.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.api.schemas.base import (
    MAX_AUDIENCE_ITEMS,
    MAX_MESSAGE_CHARS,
    MAX_VARS,
    ApiModel,
    ContactId,
    ContactName,
    ContactVars,
    ItemName,
    MessageText,
    SafeLine,
    string_or_object_with_one_of,
)
from shared.events.models import Priority, SendWindow, TemplateContent, TextContent
from shared.lifecycle import THROTTLED, Action, CampaignStatus, allowed_actions
from shared.senders import MESSAGING_SERVICE_SID_PATTERN
from shared.store.campaigns import CampaignRecord

CONTENT_SID_PATTERN = r"^HX[0-9a-fA-F]{32}$"
# A campaign scheduled further ahead is a typo (year 9999) more often than a plan;
# 366 days so that the same date next year is always accepted.
MAX_SCHEDULE_AHEAD = timedelta(days=366)

MissingVars = Literal["error", "empty", "skip"]
ALLOWED_ACTIONS = "What may be done to the campaign now, each its own route; none once it is over."
AllowedActions = Annotated[list[Action], Field(description=ALLOWED_ACTIONS)]


# Twilio's ContentVariables: at most 100 pairs, keys as the template names its
# placeholders ("1", "first_name"), values at most 1,600 characters.
VariableName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
VariableValue = Annotated[SafeLine, Field(max_length=MAX_MESSAGE_CHARS)]
ContentVariables = Annotated[dict[VariableName, VariableValue], Field(max_length=MAX_VARS)]


class TemplateMessagePublic(ApiModel):
    content_sid: str = Field(pattern=CONTENT_SID_PATTERN, examples=["HX" + "0" * 32])
    content_variables: ContentVariables = Field(default_factory=dict)


class MessageCreate(ApiModel):
    """A text body (a JSON string) or an approved template (``contentSid`` + variables).

    Text and template variables may name contact fields: ``{{name}}``, ``{{phone}}``
    or any of the contact's vars.
    """

    body: MessageText | None = None
    content_sid: str | None = Field(default=None, pattern=CONTENT_SID_PATTERN)
    content_variables: ContentVariables = Field(default_factory=dict)

    __get_pydantic_json_schema__ = string_or_object_with_one_of(MessageText, "body", "contentSid")

    @model_validator(mode="before")
    @classmethod
    def _text_as_string(cls, value: Any) -> Any:
        return {"body": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> MessageCreate:
        if (self.body is None) == (self.content_sid is None):
            raise ValueError(
                "give either a text body or a template (contentSid), not both: outside "
                "the 24 h window WhatsApp takes only templates"
            )
        if self.body is not None and self.content_variables:
            raise ValueError("contentVariables go with a contentSid, not with a body")
        return self

    def to_content(self) -> TextContent | TemplateContent:
        if self.body is not None:
            return TextContent(body=self.body)
        assert self.content_sid is not None
        return TemplateContent(
            content_sid=self.content_sid, content_variables=self.content_variables
        )


class AudienceItemCreate(ApiModel):
    """One audience entry: a stored contact's id (a JSON string), or an inline recipient."""

    contact_id: ContactId | None = None
    phone: str | None = Field(default=None, min_length=1, max_length=64)
    name: ContactName | None = None
    vars: ContactVars = Field(default_factory=dict)

    __get_pydantic_json_schema__ = string_or_object_with_one_of(ContactId, "contactId", "phone")

    @model_validator(mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        return {"contactId": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _id_or_phone(self) -> AudienceItemCreate:
        if (self.contact_id is None) == (self.phone is None):
            raise ValueError("give either a contact id (a string) or a recipient with a phone")
        return self


class CampaignCreate(ApiModel):
    name: ItemName
    message: MessageCreate
    contacts: list[AudienceItemCreate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_AUDIENCE_ITEMS,
        description=f"The audience, in send order: at most {MAX_AUDIENCE_ITEMS:,} entries "
        "(and a body of at most API_MAX_BODY_BYTES, 1 MiB by default). Give this or "
        "`listId`: a larger audience is imported into a list "
        "(POST /api/contacts/import?listId=...) and sent to by its id.",
    )
    list_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Send to one of your lists (GET /api/lists), of any size, in the "
        "order its members joined; the audience is frozen when the campaign is created.",
    )
    missing_vars: MissingVars = Field(
        default="error",
        description="A contact lacking a variable the message names: `error` refuses the "
        "campaign (422 listing each missing variable and how many contacts lack it), "
        "`empty` fills it with nothing, `skip` leaves that contact out of the audience "
        "(counted in `skippedContacts`).",
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None,
        description="ISO 8601 with an offset, at most 366 days ahead; the campaign starts "
        "itself then.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="Nothing is sent after this; what is left ends expired (counted).",
    )
    priority: Priority = "normal"
    from_number: str | None = Field(default=None, max_length=64)
    messaging_service_sid: str | None = Field(
        default=None,
        pattern=MESSAGING_SERVICE_SID_PATTERN,
        description="Send from this Messaging Service's pool of numbers (configured in "
        "MESSAGING_SERVICES); each recipient always gets the same number of the pool.",
    )
    send_window: SendWindowCreate | None = Field(
        default=None,
        description="Local hours (each recipient's time zone) in which messages may go out.",
    )

    @field_validator("contacts", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        # Before the entries are validated one by one: a 100,000-entry list is refused
        # at once, with a pointer to the way to send that many.
        if isinstance(value, list) and len(value) > MAX_AUDIENCE_ITEMS:
            raise ValueError(
                f"{len(value):,} entries; at most {MAX_AUDIENCE_ITEMS:,} per request: import "
                "a larger audience into a list (POST /api/contacts/import?listId=...) and "
                "give listId"
            )
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _one_sender(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("from_number") is not None:
            raise ValueError("give either fromNumber or messagingServiceSid, not both")
        return value

    @field_validator("scheduled_at", "expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value

    @field_validator("scheduled_at")
    @classmethod
    def _within_a_year(cls, value: datetime | None) -> datetime | None:
        if value is not None and value - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
            raise ValueError(f"must be at most {MAX_SCHEDULE_AHEAD.days} days ahead")
        return value

    @field_validator("expires_at")
    @classmethod
    def _after_the_schedule(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        scheduled_at = info.data.get("scheduled_at")
        if value is not None and scheduled_at is not None and value <= scheduled_at:
            raise ValueError("must be after scheduledAt")
        return value


class SendWindowCreate(SendWindow):
    """``start`` and ``end`` as HH:MM; an end before the start spans midnight."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid(self) -> SendWindowCreate:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown IANA time zone {self.timezone!r}") from None
        return self


class CampaignPublic(ApiModel):
    id: str
    name: str | None
    status: CampaignStatus
    allowed_actions: AllowedActions
    priority: Priority
    message: str | TemplateMessagePublic
    total_contacts: int
    created_at: datetime | None
    scheduled_at: datetime | None
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    job_id: str | None
    from_number: str | None
    messaging_service_sid: str | None = None
    send_window: SendWindow | None = None
    throttled_until: datetime | None = Field(
        default=None,
        description="While throttled by the sender's messaging tier: when it sends again.",
    )

    @classmethod
    def from_record(cls, record: CampaignRecord) -> Self:
        content = record.content
        message: str | TemplateMessagePublic = (
            content.body
            if isinstance(content, TextContent)
            else TemplateMessagePublic(
                content_sid=content.content_sid, content_variables=content.content_variables
            )
        )
        return cls(
            id=record.id,
            name=record.name,
            status=record.status,
            allowed_actions=allowed_actions(record.status),
            priority=record.priority,
            message=message,
            total_contacts=record.total,
            created_at=record.created_at,
            scheduled_at=record.scheduled_at,
            expires_at=record.expires_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            job_id=record.job_id,
            from_number=record.from_number,
            messaging_service_sid=record.messaging_service_sid,
            send_window=record.send_window,
            throttled_until=(
                datetime.fromtimestamp(record.throttled_until_ms / 1000, UTC)
                if record.status == THROTTLED and record.throttled_until_ms
                else None
            ),
        )


class CampaignCreatedPublic(CampaignPublic):
    skipped_contacts: int | None = Field(
        default=None,
        description="With `missingVars: skip`: contacts left out for lacking a variable "
        "(absent otherwise).",
    )


class CampaignsPublic(ApiModel):
    campaigns: list[CampaignPublic]
    total: int
    page: int
    limit: int


class CampaignStartPublic(ApiModel):
    message: str
    job_id: str
    estimated_contacts: int
    estimated_time: int = Field(
        description="Milliseconds until this campaign is sent, at the configured rate shared "
        "by priority weight with the campaigns already running."
    )
    campaign: CampaignPublic


class ControlPublic(ApiModel):
    success: bool = True
    message: str
    status: CampaignStatus


class StatusChangePublic(ApiModel):
    status: CampaignStatus
    previous: CampaignStatus | None = Field(description="The status it left; none at creation.")
    at: datetime


class StatusHistoryPublic(ApiModel):
    campaign_id: str
    changes: list[StatusChangePublic]
