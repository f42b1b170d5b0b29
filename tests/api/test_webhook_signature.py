"""Webhook signatures: SHA-1 with the Auth Token, SHA-256 when the settings header says so."""

from __future__ import annotations

import base64
import hashlib
import hmac

from twilio.request_validator import RequestValidator

from services.api.webhook_signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    WebhookSecrets,
    signed_url,
)
from services.sender.twilio_gateway import message_form
from shared.events.models import SendMessage, TextContent
from shared.status_callback import message_of, position_of, status_callback_url

TOKEN = "auth-token"
SHARED_KEY = "shared-key-secret"
URL = "https://cq.example.org/api/webhooks/twilio/status?campaignId=c1&contactId=k1"
PARAMS = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "whatsapp:+34611001000"}
SHA256_SETTINGS = {SIGNATURE_SETTINGS_HEADER: "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}


def sign(secret: str, url: str, params: dict[str, str], digest=hashlib.sha1) -> str:
    """Twilio's scheme written out by hand: the URL, then each sorted name and value."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(secret.encode(), signed.encode(), digest).digest()).decode()


def test_sha1_signature_over_url_and_every_parameter() -> None:
    secrets = WebhookSecrets(TOKEN)
    signature = sign(TOKEN, URL, PARAMS)
    assert signature == RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert secrets.is_genuine(URL, PARAMS, {SIGNATURE_HEADER: signature})


def test_a_tampered_parameter_url_or_key_is_refused() -> None:
    secrets = WebhookSecrets(TOKEN)
    headers = {SIGNATURE_HEADER: sign(TOKEN, URL, PARAMS)}
    assert not secrets.is_genuine(URL, {**PARAMS, "MessageStatus": "read"}, headers)
    assert not secrets.is_genuine(URL, {**PARAMS, "Extra": "x"}, headers)
    assert not secrets.is_genuine(URL.replace("c1", "c2"), PARAMS, headers)
    assert not WebhookSecrets("other-token").is_genuine(URL, PARAMS, headers)
    assert not secrets.is_genuine(URL, PARAMS, {})
    assert not secrets.is_genuine(URL, PARAMS, {SIGNATURE_HEADER: ""})


def test_sha256_signature_named_by_the_settings_header() -> None:
    secrets = WebhookSecrets(TOKEN, shared_key_secret=SHARED_KEY)
    signature = sign(SHARED_KEY, URL, PARAMS, hashlib.sha256)
    assert signature == RequestValidator(SHARED_KEY).compute_signature(
        URL, PARAMS, algorithm="HMAC_SHA256"
    )
    headers = {SIGNATURE_HEADER: signature, **SHA256_SETTINGS}
    assert secrets.is_genuine(URL, PARAMS, headers)
    assert not secrets.is_genuine(URL, {**PARAMS, "MessageStatus": "read"}, headers)
    # Without the settings header the same signature is read as SHA-1: refused.
    assert not secrets.is_genuine(URL, PARAMS, {SIGNATURE_HEADER: signature})
    # Signed with the Auth Token while a SharedKey secret is configured: refused.
    auth_token_signed = sign(TOKEN, URL, PARAMS, hashlib.sha256)
    assert not secrets.is_genuine(
        URL, PARAMS, {SIGNATURE_HEADER: auth_token_signed, **SHA256_SETTINGS}
    )


def test_sha256_with_the_auth_token_when_no_shared_key_is_configured() -> None:
    headers = {SIGNATURE_HEADER: sign(TOKEN, URL, PARAMS, hashlib.sha256), **SHA256_SETTINGS}
    assert WebhookSecrets(TOKEN).is_genuine(URL, PARAMS, headers)


def test_an_unknown_algorithm_is_refused() -> None:
    headers = {
        SIGNATURE_HEADER: sign(TOKEN, URL, PARAMS),
        SIGNATURE_SETTINGS_HEADER: "key=k,algorithm=HMAC_MD5",
    }
    assert not WebhookSecrets(TOKEN).is_genuine(URL, PARAMS, headers)


def test_a_json_body_is_signed_through_its_hash() -> None:
    body = '{"MessageSid":"SM1","MessageStatus":"read"}'
    url = f"https://cq.example.org/hook?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    headers = {SIGNATURE_HEADER: sign(TOKEN, url, {})}
    assert WebhookSecrets(TOKEN).is_genuine(url, body, headers)
    assert not WebhookSecrets(TOKEN).is_genuine(url, body.replace("read", "sent"), headers)


def test_the_signed_url_is_the_public_one_when_configured() -> None:
    seen = "http://10.0.0.5:8000/api/webhooks/twilio/status?campaignId=c1"
    path, query = "/api/webhooks/twilio/status", "campaignId=c1"
    assert signed_url(None, seen, path, query) == seen
    assert signed_url("https://cq.example.org/", seen, path, query) == (
        "https://cq.example.org/api/webhooks/twilio/status?campaignId=c1"
    )
    assert signed_url("https://cq.example.org", seen, path, "") == (
        "https://cq.example.org/api/webhooks/twilio/status"
    )


def test_status_callback_url_carries_campaign_and_contact() -> None:
    url = status_callback_url("https://cq.example.org/", "camp 1", "contact&2")
    assert url == (
        "https://cq.example.org/api/webhooks/twilio/status?campaignId=camp+1&contactId=contact%262"
    )
    assert message_of({"campaignId": "camp 1", "contactId": "contact&2"}) == ("camp 1", "contact&2")
    assert message_of({}) == (None, None)
    with_position = status_callback_url("https://cq.example.org", "c", "k", 41)
    assert with_position.endswith("?campaignId=c&contactId=k&position=41")
    assert position_of({"position": "41"}) == 41
    # Absent, or not a place in an audience: none (a callback of an earlier version).
    for raw in ({}, {"position": "-1"}, {"position": "x"}, {"position": "9" * 12}):
        assert position_of(raw) is None


def test_the_sender_asks_for_receipts_only_with_a_public_url() -> None:
    command = SendMessage(
        campaign_id="c1",
        contact_id="k1",
        to="whatsapp:+34611001000",
        from_number="whatsapp:+14155238886",
        content=TextContent(body="hi"),
    )
    assert "StatusCallback" not in message_form(command)
    assert message_form(command, "https://cq.example.org")["StatusCallback"] == (
        "https://cq.example.org/api/webhooks/twilio/status?campaignId=c1&contactId=k1"
    )
