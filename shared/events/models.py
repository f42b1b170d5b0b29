"""The event contract: every record on every topic is one of these models.

Rules, so that other services can rely on the contract:
- every event carries ``type``, ``version``, ``event_id`` and ``occurred_at``;
- a version changes by addition only (new optional fields); a renamed or
  removed field makes a new type, or a new version with an upcaster
  (``upcast_v1_v2``) in :mod:`shared.events.codec`;
- field names are camelCase on the wire, like the REST API.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

Priority = Literal["low", "normal", "high"]
# Every datetime on the wire names its zone: a naive one is refused at decode (and
# dead-lettered) rather than compared with an aware one deep in a consumer.
# The pattern says so in the published schemas too: validators often skip "format".
ZonedDatetime = Annotated[
    AwareDatetime,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"([Zz]|[+-][0-9]{2}:?[0-9]{2})$",
            "description": "ISO 8601 with its zone: Z or an offset such as +02:00.",
        }
    ),
]


def _now() -> datetime:
    return datetime.now(UTC)


# A version-4 UUID from the random module's generator (seeded from the system's
# randomness, and again in a forked child), not uuid.uuid4(): that reads os.urandom
# for every id, a system call that was a tenth of the dispatcher's CPU (py-spy), while
# event ids need to be unique, not unguessable. 0.55 µs against 2 µs an id.
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)
_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def _new_id() -> str:
    digits = "%032x" % (random.getrandbits(128) & _UUID4_MASK | _UUID4_BITS)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are kept out."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class Event(Wire):
    event_id: str = Field(default_factory=_new_id, description="Unique id of this event.")
    occurred_at: ZonedDatetime = Field(default_factory=_now, description="When it happened (UTC).")


# Message content -------------------------------------------------------------


class TextContent(Wire):
    """A free-form body; WhatsApp accepts it only inside the 24 h service window."""

    kind: Literal["text"] = "text"
    body: str = Field(min_length=1, max_length=1600)


class TemplateContent(Wire):
    """An approved WhatsApp template (Twilio Content API)."""

    kind: Literal["template"] = "template"
    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    content_variables: dict[str, str] = Field(default_factory=dict, max_length=100)


MessageContent = Annotated[TextContent | TemplateContent, Field(discriminator="kind")]


class Recipient(Wire):
    contact_id: str = Field(min_length=1, max_length=128)
    phone: str = Field(min_length=3, max_length=32, description="E.164, or as entered.")
    name: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)


class InlineAudience(Wire):
    """Recipients inside the event: for other services and small campaigns."""

    kind: Literal["inline"] = "inline"
    recipients: list[Recipient] = Field(min_length=1)


class StoredAudience(Wire):
    """Recipients frozen by the API in PostgreSQL's ``recipients`` table under the
    campaign's id, read by the dispatcher in pages."""

    kind: Literal["stored"] = "stored"
    size: int = Field(ge=0)


Audience = Annotated[InlineAudience | StoredAudience, Field(discriminator="kind")]


class SendWindow(Wire):
    """Local hours in which recipients may be messaged, in each recipient's time zone."""

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["20:00"])
    timezone: str = Field(
        default="UTC",
        description="IANA zone for recipients whose zone neither the contact nor the number tells.",
    )


# campaign.events ------------------------------------------------------------


class CampaignStarted(Event):
    type: Literal["CampaignStarted"] = "CampaignStarted"
    version: Literal[1] = 1
    campaign_id: str = Field(min_length=1, max_length=128)
    job_id: str
    owner_id: str | None = None
    name: str | None = None
    content: MessageContent
    audience: Audience
    priority: Priority = "normal"
    from_number: str | None = Field(
        default=None, description="Sender; the configured TWILIO_WHATSAPP_NUMBER when absent."
    )
    expires_at: ZonedDatetime | None = Field(
        default=None, description="After this, nothing more is sent: the rest end expired."
    )
    messaging_service_sid: str | None = Field(
        default=None,
        description="Send from this Messaging Service's pool of numbers instead of fromNumber.",
    )
    send_window: SendWindow | None = Field(
        default=None, description="Recipients outside these local hours wait until they open."
    )


class CampaignScheduled(Event):
    type: Literal["CampaignScheduled"] = "CampaignScheduled"
    version: Literal[1] = 1
    campaign_id: str = Field(min_length=1, max_length=128)
    scheduled_at: ZonedDatetime


class CampaignControl(Event):
    campaign_id: str = Field(min_length=1, max_length=128)
    requested_by: str | None = None
    reason: str | None = None


class CampaignPaused(CampaignControl):
    type: Literal["CampaignPaused"] = "CampaignPaused"
    version: Literal[1] = 1


class CampaignResumed(CampaignControl):
    type: Literal["CampaignResumed"] = "CampaignResumed"
    version: Literal[1] = 1


class CampaignStopped(CampaignControl):
    type: Literal["CampaignStopped"] = "CampaignStopped"
    version: Literal[1] = 1


# message.commands -----------------------------------------------------------

# Why a contact was never sent to: its campaign was stopped, or expired first.
CancelReason = Literal["stopped", "expired"]
# Why a contact is not sent to at all: a bad number, an opt-out, already sent.
SkipReason = Literal["invalid", "opted_out", "duplicate"]
OutcomeT = TypeVar("OutcomeT", bound="MessageOutcome")


class SendMessage(Event):
    type: Literal["SendMessage"] = "SendMessage"
    version: Literal[1] = 1
    campaign_id: str
    contact_id: str
    to: str = Field(description="E.164 recipient, with the whatsapp: prefix.")
    from_number: str
    content: MessageContent
    attempt: int = Field(default=1, ge=1)
    batch_index: int = Field(default=0, ge=0)
    position: int | None = Field(
        default=None,
        ge=0,
        description="The recipient's place in the campaign's audience (send order).",
    )
    expires_at: ZonedDatetime | None = None
    priority: Priority = Field(
        default="normal", description="The campaign's share of the send rate, by weight."
    )
    test_send: bool = Field(
        default=False,
        description="A test send (POST /api/campaigns/{id}/test-send): sent like any other, "
        "never counted in its campaign; its contactId is `test-send:<uuid>`.",
    )

    # The outcomes of this command. The sender (after a send) and the dispatcher
    # (deciding without one) build them here, so both say who, to whom and which
    # attempt the same way.

    def outcome(self, kind: type[OutcomeT], **fields: Any) -> OutcomeT:
        """This command's outcome of type ``kind``, with its own ``fields``."""
        return kind(
            campaign_id=self.campaign_id,
            contact_id=self.contact_id,
            to=self.to,
            attempt=self.attempt,
            batch_index=self.batch_index,
            position=self.position,
            test_send=self.test_send,
            **fields,
        )

    def sent(self, message_sid: str) -> MessageSent:
        return self.outcome(MessageSent, message_sid=message_sid)

    def failed(
        self, error_code: int | None, error_message: str, *, retryable: bool
    ) -> MessageFailed:
        return self.outcome(
            MessageFailed, error_code=error_code, error_message=error_message, retryable=retryable
        )

    def cancelled(self, reason: CancelReason = "stopped") -> MessageCancelled:
        return self.outcome(MessageCancelled, reason=reason)

    def skipped(self, reason: SkipReason) -> MessageSkipped:
        return self.outcome(MessageSkipped, reason=reason)

    def deferred(self, reason: str = "paused") -> MessageDeferred:
        return self.outcome(MessageDeferred, reason=reason)


class SendMessageBatch(Event):
    """Several commands of one campaign in one record: cheaper to produce and consume."""

    type: Literal["SendMessageBatch"] = "SendMessageBatch"
    version: Literal[1] = 1
    campaign_id: str
    batch_index: int = Field(ge=0)
    commands: list[SendMessage] = Field(min_length=1)


# message.results ------------------------------------------------------------


class MessageOutcome(Event):
    campaign_id: str
    contact_id: str
    to: str
    attempt: int = Field(default=1, ge=1)
    batch_index: int = Field(default=0, ge=0)
    position: int | None = Field(
        default=None,
        ge=0,
        description="The recipient's place in the campaign's audience (send order).",
    )
    test_send: bool = Field(
        default=False, description="The outcome of a test send: never counted in the campaign."
    )


class MessageSent(MessageOutcome):
    type: Literal["MessageSent"] = "MessageSent"
    version: Literal[1] = 1
    message_sid: str


class MessageFailed(MessageOutcome):
    type: Literal["MessageFailed"] = "MessageFailed"
    version: Literal[1] = 1
    error_code: int | None = Field(description="Twilio's error code, when Twilio gave one.")
    error_message: str
    retryable: bool = False


class MessageSkipped(MessageOutcome):
    type: Literal["MessageSkipped"] = "MessageSkipped"
    version: Literal[1] = 1
    reason: SkipReason


class MessageCancelled(MessageOutcome):
    type: Literal["MessageCancelled"] = "MessageCancelled"
    version: Literal[1] = 1
    reason: CancelReason = "stopped"


class MessagesCancelled(Event):
    """Contacts of one batch never sent to, in one record: the rest of a stopped or
    expired campaign, which may be a million contacts, is not a million records."""

    type: Literal["MessagesCancelled"] = "MessagesCancelled"
    version: Literal[1] = 1
    campaign_id: str
    batch_index: int = Field(ge=0)
    contact_ids: list[str] = Field(min_length=1)
    reason: CancelReason = "stopped"
    first_position: int | None = Field(
        default=None,
        ge=0,
        description="The audience position of the first contact; the others follow it.",
    )


class MessageDeferred(MessageOutcome):
    type: Literal["MessageDeferred"] = "MessageDeferred"
    version: Literal[1] = 1
    reason: str
    not_before: ZonedDatetime | None = None


# message.status ---------------------------------------------------------------


class MessageStatusReported(Event):
    """A delivery receipt from a Twilio status callback."""

    type: Literal["MessageStatusReported"] = "MessageStatusReported"
    version: Literal[1] = 1
    message_sid: str
    status: str
    campaign_id: str | None = None
    error_code: int | None = None
    contact_id: str | None = Field(
        default=None, description="The contact, from the signed callback URL the sender gave."
    )
    position: int | None = Field(
        default=None,
        ge=0,
        description="The recipient's place in the campaign's audience, from the signed "
        "callback URL; none for messages sent before it was given.",
    )
    to: str | None = Field(default=None, description="The recipient, as Twilio reports it.")
    error_message: str | None = Field(default=None, description="Twilio's text for error_code.")
    account_sid: str | None = Field(default=None, description="The Twilio account of the message.")


# alerts -------------------------------------------------------------------------

AlertName = Literal[
    "circuit_breaker_open", "failure_rate_high", "processing_time_high", "queue_saturated"
]


class AlertRaised(Event):
    type: Literal["AlertRaised"] = "AlertRaised"
    version: Literal[1] = 1
    name: AlertName
    message: str = Field(description="What is wrong, with the figures, for a person.")
    details: dict[str, float | int | str] = Field(default_factory=dict)


class AlertCleared(Event):
    type: Literal["AlertCleared"] = "AlertCleared"
    version: Literal[1] = 1
    name: AlertName
    raised_at: ZonedDatetime


# message.dlq --------------------------------------------------------------------


class DeadLetter(Event):
    type: Literal["DeadLetter"] = "DeadLetter"
    version: Literal[1] = 1
    reason: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    original_base64: str = Field(description="The original record's value, base64.")


EVENT_TYPES: tuple[type[Event], ...] = (
    CampaignStarted,
    CampaignScheduled,
    CampaignPaused,
    CampaignResumed,
    CampaignStopped,
    SendMessage,
    SendMessageBatch,
    MessageSent,
    MessageFailed,
    MessageSkipped,
    MessageCancelled,
    MessagesCancelled,
    MessageDeferred,
    MessageStatusReported,
    AlertRaised,
    AlertCleared,
    DeadLetter,
)
