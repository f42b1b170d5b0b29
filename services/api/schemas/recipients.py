"""The bodies of a campaign's per-recipient results."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from shared.store.recipients import RecipientResult

PENDING = "pending"


class RecipientResultPublic(ApiModel):
    position: int = Field(description="The recipient's place in the audience, from 0.")
    contact_id: str
    phone: str = Field(description="E.164, or as entered when it was not a valid number.")
    name: str | None = None
    state: str = Field(
        description="pending (no outcome yet), sent, failed, skipped, cancelled or expired.",
        examples=["sent"],
    )
    error_code: int | None = Field(default=None, description="Twilio's code of a failure.")
    message_sid: str | None = Field(default=None, description="Twilio's id of a sent message.")
    reason: str | None = Field(
        default=None, description="Why it was skipped, cancelled or failed, in words."
    )
    outcome_at: datetime | None = None
    delivery_state: str | None = Field(
        default=None,
        description="How far a sent message got, from Twilio's receipts: queued, sent, "
        "delivered, read, or failed or undelivered after Twilio accepted it (then with "
        "deliveryErrorCode). None until the first receipt.",
        examples=["delivered"],
    )
    delivery_error_code: int | None = None
    delivery_at: datetime | None = Field(default=None, description="When it got that far.")

    @classmethod
    def from_result(cls, result: RecipientResult) -> RecipientResultPublic:
        return cls(
            position=result.position,
            contact_id=result.contact_id,
            phone=result.phone,
            name=result.name,
            state=result.state or PENDING,
            error_code=result.error_code,
            message_sid=result.message_sid,
            reason=result.reason,
            outcome_at=result.outcome_at,
            delivery_state=result.delivery_state,
            delivery_error_code=result.delivery_error_code,
            delivery_at=result.delivery_at,
        )


class RecipientResultsPublic(ApiModel):
    recipients: list[RecipientResultPublic]
    total: int
    page: int
    limit: int
