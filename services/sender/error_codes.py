"""The sender's classification of Twilio errors: the table lives in shared/twilio_errors.py,
beside the meanings the api shows, so the two never disagree."""

from shared.twilio_errors import (
    ERROR_CODES,
    PERMANENT,
    RETRYABLE,
    Disposition,
    classify,
    classify_status,
    is_retryable,
)

__all__ = [
    "ERROR_CODES",
    "PERMANENT",
    "RETRYABLE",
    "Disposition",
    "classify",
    "classify_status",
    "is_retryable",
]
