"""The bodies of a campaign's per-recipient results."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from shared.store.recipient_states import RecipientState, recipient_state, state_code
from shared.store.recipients import RecipientResult
from shared.twilio_errors import failure_meaning


class RecipientResultPublic(ApiModel):
    position: int = Field(description="The recipient's place in the audience, from 0.")
    contact_id: str
    phone: str = Field(description="E.164, or as entered when it was not a valid number.")
    name: str | None = None
    state: RecipientState = Field(
        description="What became of it, one word: pending (no outcome yet), sent "
        "(accepted by Twilio, no receipt yet), delivered, read, failed (at send, with "
        "errorCode), undelivered (failed after Twilio accepted it, with errorCode), "
        "skipped, cancelled or expired (with reason).",
        examples=["delivered"],
    )
    error_code: int | None = Field(
        default=None, description="Twilio's code of the failure (failed or undelivered)."
    )
    error_meaning: str | None = Field(default=None, description="What errorCode means.")
    message_sid: str | None = Field(default=None, description="Twilio's id of a sent message.")
    reason: str | None = Field(
        default=None, description="Why it was skipped, cancelled or failed, in words."
    )
    outcome_at: datetime | None = Field(default=None, description="When it was sent or not.")
    delivery_state: str | None = Field(
        default=None,
        description="Twilio's furthest receipt for a sent message: queued, sent, "
        "delivered, read, failed or undelivered (None until the first).",
        examples=["delivered"],
    )
    delivery_at: datetime | None = Field(default=None, description="When it got that far.")

    @classmethod
    def from_result(cls, result: RecipientResult) -> RecipientResultPublic:
        state = recipient_state(result.state, result.delivery_state)
        code = state_code(state, result.error_code, result.delivery_error_code)
        return cls(
            position=result.position,
            contact_id=result.contact_id,
            phone=result.phone,
            name=result.name,
            state=state,
            error_code=code,
            error_meaning=failure_meaning(code) if code is not None else None,
            message_sid=result.message_sid,
            reason=result.reason,
            outcome_at=result.outcome_at,
            delivery_state=result.delivery_state,
            delivery_at=result.delivery_at,
        )


class RecipientResultsPublic(ApiModel):
    recipients: list[RecipientResultPublic]
    total: int
    page: int
    limit: int
