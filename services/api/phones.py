"""Phone numbers from requests: E.164 or a 422 naming the field they came from."""

from __future__ import annotations

from services.api.errors import InvalidInput, Location
from shared.phones import normalise_phone

INVALID_PHONE = "not a valid phone number (+34 611 001 000 expected)"


def require_phone(raw: str, default_region: str, loc: Location) -> str:
    """The E.164 form of ``raw``; a number without + is read in ``default_region``."""
    e164 = normalise_phone(raw, default_region)
    if e164 is None:
        raise InvalidInput(loc, INVALID_PHONE, raw)
    return e164
