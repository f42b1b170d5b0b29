"""No webhook signature is accepted with an empty key, and no validator trouble escapes."""

from __future__ import annotations

import hashlib

from twilio.request_validator import RequestValidator

from services.api.webhook_signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    WebhookSecrets,
)

URL = "https://cq.example.org/api/webhooks/twilio/status?campaignId=c1&contactId=k1"
PARAMS = {"MessageSid": "SM1", "MessageStatus": "delivered"}


def test_a_signature_made_with_an_empty_key_is_refused() -> None:
    signature = RequestValidator("").compute_signature(URL, PARAMS)
    assert not WebhookSecrets("").is_genuine(URL, PARAMS, {SIGNATURE_HEADER: signature})


def test_an_empty_shared_key_falls_back_to_the_auth_token_never_to_an_empty_key() -> None:
    sha256 = {SIGNATURE_SETTINGS_HEADER: "key=k,algorithm=HMAC_SHA256"}
    empty_signed = RequestValidator("").compute_signature(URL, PARAMS, "HMAC_SHA256")
    secrets = WebhookSecrets("auth-token", shared_key_secret="")
    assert not secrets.is_genuine(URL, PARAMS, {SIGNATURE_HEADER: empty_signed, **sha256})


def test_a_json_body_without_its_hash_is_refused_not_an_error() -> None:
    body = '{"MessageSid":"SM1","MessageStatus":"read"}'
    signature = RequestValidator("auth-token").compute_signature(URL, {})
    assert not WebhookSecrets("auth-token").is_genuine(URL, body, {SIGNATURE_HEADER: signature})


def test_a_url_the_validator_cannot_read_is_refused_not_an_error() -> None:
    body = "{}"
    url = f"https://cq.example.org:99999/hook?bodySHA256={hashlib.sha256(b'{}').hexdigest()}"
    headers = {SIGNATURE_HEADER: "c2lnbmF0dXJl"}
    assert not WebhookSecrets("auth-token").is_genuine(url, body, headers)
