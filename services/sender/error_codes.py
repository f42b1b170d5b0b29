"""Twilio error code -> retryable or permanent: a table, not a chain of ifs.

Codes not in the table are classified by their HTTP status: 429 and 5xx are
retryable, any other 4xx is permanent (an unknown refusal will not change by
asking again). Timeouts and connection errors carry no code and are retryable.
"""

from __future__ import annotations

from enum import StrEnum


class Disposition(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


RETRYABLE = Disposition.RETRYABLE
PERMANENT = Disposition.PERMANENT

ERROR_CODES: dict[int, Disposition] = {
    20429: RETRYABLE,  # too many requests
    20500: RETRYABLE,  # internal server error
    20503: RETRYABLE,  # service unavailable
    21611: RETRYABLE,  # the From number has too many queued messages
    63018: RETRYABLE,  # rate limit exceeded for the WhatsApp sender
    20003: PERMANENT,  # authentication failed
    21211: PERMANENT,  # invalid To number
    21408: PERMANENT,  # region not enabled
    21610: PERMANENT,  # recipient unsubscribed
    21614: PERMANENT,  # not a mobile number
    21617: PERMANENT,  # body too long
    21658: PERMANENT,  # content variables invalid
    30007: PERMANENT,  # filtered by the carrier
    63016: PERMANENT,  # outside the 24 h window, a template is needed
    63024: PERMANENT,  # invalid WhatsApp recipient
    63032: PERMANENT,  # the user's WhatsApp blocks business messages
}

TOO_MANY_REQUESTS = 429


def classify_status(http_status: int | None) -> Disposition:
    """An answer without a known code: no status (timeout, lost connection), 429, 5xx retry."""
    if http_status is None or http_status == TOO_MANY_REQUESTS or http_status >= 500:
        return RETRYABLE
    return PERMANENT


def classify(code: int | None, http_status: int | None) -> Disposition:
    if code is not None and code in ERROR_CODES:
        return ERROR_CODES[code]
    return classify_status(http_status)


def is_retryable(code: int | None, http_status: int | None) -> bool:
    return classify(code, http_status) is RETRYABLE
