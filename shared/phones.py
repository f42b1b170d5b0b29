"""Phone numbers as Twilio wants them: E.164, and WhatsApp addresses."""

from __future__ import annotations

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


def normalise_phone(raw: str, default_region: str | None = None) -> str | None:
    """The E.164 form of a valid number, or None. A number without + needs a region."""
    text = raw.strip().removeprefix(WHATSAPP_PREFIX)
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def whatsapp_address(e164: str) -> str:
    return e164 if e164.startswith(WHATSAPP_PREFIX) else f"{WHATSAPP_PREFIX}{e164}"
