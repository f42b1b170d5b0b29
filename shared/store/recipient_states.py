"""What became of one recipient, in one word: the one account of a recipient that the
results page, its CSV and its filter all give.

A recipient's row holds two things written apart: its send outcome (the metrics
service's fold of the results: sent, failed, skipped, cancelled, expired; none yet)
and how far its message got after Twilio accepted it (the delivery receipts). The
state joins them: a sent message is ``delivered`` or ``read`` once a receipt says
so, and ``undelivered`` when Twilio failed it after accepting it ("failed after
acceptance", with the receipt's code). :func:`recipient_state` is the rule;
``STATE_FILTERS`` says the same in SQL, for ``?state=``; a test holds them together.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

RecipientState = Literal[
    "pending",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "skipped",
    "cancelled",
    "expired",
]
RECIPIENT_STATES: Final[tuple[RecipientState, ...]] = get_args(RecipientState)

# Receipts past acceptance that say the message did not reach the phone.
_FAILED_AFTER_ACCEPTANCE = ("failed", "undelivered")


def recipient_state(outcome: str | None, delivery: str | None) -> RecipientState:
    """The one word for a recipient whose send outcome is ``outcome`` (None: none yet)
    and whose furthest receipt is ``delivery`` (None: none)."""
    if outcome is None:
        return "pending"
    if outcome != "sent":
        return outcome  # type: ignore[return-value]  # the fold writes only these
    if delivery in ("delivered", "read"):
        return delivery  # type: ignore[return-value]
    if delivery in _FAILED_AFTER_ACCEPTANCE:
        return "undelivered"
    return "sent"


def state_code(
    state: RecipientState, error_code: int | None, delivery_error_code: int | None
) -> int | None:
    """The Twilio code that goes with the state: the send's for ``failed``, the
    receipt's for ``undelivered``, none otherwise."""
    if state == "failed":
        return error_code
    if state == "undelivered":
        return delivery_error_code
    return None


# The same rule as SQL conditions on a row of ``recipients`` (trusted text: each is a
# constant of this module, never built from input).
STATE_FILTERS: Final[dict[RecipientState, str]] = {
    "pending": "state IS NULL",
    "sent": "state = 'sent' AND (delivery_state IS NULL OR delivery_state IN ('queued', 'sent'))",
    "delivered": "state = 'sent' AND delivery_state = 'delivered'",
    "read": "state = 'sent' AND delivery_state = 'read'",
    "failed": "state = 'failed'",
    "undelivered": "state = 'sent' AND delivery_state IN ('failed', 'undelivered')",
    "skipped": "state = 'skipped'",
    "cancelled": "state = 'cancelled'",
    "expired": "state = 'expired'",
}
