"""Is a webhook request really from Twilio? Checked with twilio's own RequestValidator.

Twilio signs the full URL it called followed by every POST parameter, sorted, and
sends the base64 HMAC in X-Twilio-Signature. By default the key is the account's
Auth Token and the hash SHA-1. When a Webhooks Rule with a SharedKey covers the URL,
Twilio signs with that key and the rule's algorithm (HMAC_SHA256) instead, and says
so in X-Twilio-Webhooks-Signature-Settings (``key=<id>,algorithm=HMAC_SHA256``); the
signature header and the signed string stay the same. JSON bodies are signed through
a ``bodySHA256`` query parameter, which the validator checks against the raw body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_SETTINGS_HEADER", "WebhookSecrets", "signed_url"]

log = logging.getLogger(__name__)

# What RequestValidator accepts as parameters: a form (values per name) or a raw JSON body.
SignedParams = Mapping[str, str] | str


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    auth_token: str
    # The SharedKey secret of a Webhooks Rule; without one, the Auth Token signs both ways.
    shared_key_secret: str | None = None

    def is_genuine(self, url: str, params: SignedParams, headers: Mapping[str, str]) -> bool:
        """Whether the request's signature matches ``url`` and every received parameter."""
        signature = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
        if not signature:
            return False
        signature_settings = headers.get(SIGNATURE_SETTINGS_HEADER) or headers.get(
            SIGNATURE_SETTINGS_HEADER.lower()
        )
        # No settings header means the Auth Token and HMAC_SHA1; an algorithm the
        # library does not know fails validation (it logs a warning).
        algorithm = get_signature_algorithm(signature_settings)
        key = self.auth_token
        if signature_settings and self.shared_key_secret:
            key = self.shared_key_secret
        if not key or not key.strip():
            # Anyone can compute an HMAC with an empty key: it proves nothing.
            return False
        if isinstance(params, str) and "bodySHA256" not in parse_qs(urlsplit(url).query):
            # The library would sign the raw body as if it were a form, and fail on it.
            return False
        try:
            return RequestValidator(key).validate(url, params, signature, algorithm)
        except Exception as error:  # whatever the validator trips on, it proves nothing
            log.info("webhook signature could not be checked", extra={"error": repr(error)})
            return False


def signed_url(public_base_url: str | None, request_url: str, path: str, query: str) -> str:
    """The URL Twilio called, as it signed it: behind a proxy the api sees another one."""
    if not public_base_url:
        return request_url
    return f"{public_base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
