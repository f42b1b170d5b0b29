"""Twilio's webhooks on the api: signed receipts go to message.status, forged ones nowhere;
STOP and START replies change the opt-out list."""

from __future__ import annotations

import hashlib
import itertools

import httpx
from twilio.request_validator import RequestValidator

from services.api.webhook_signature import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER
from shared.events.models import MessageStatusReported
from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN
from shared.topics import Topics
from tests.api.conftest import Api, valid_phone
from tests.kafka_io import reading
from tests.ledger_entries import record_sent

BASE = "http://api"
STATUS = "/api/webhooks/twilio/status"
INBOUND = "/api/webhooks/twilio/inbound"


def signed_headers(url: str, params: dict[str, str], algorithm: str | None = None) -> dict:
    signature = RequestValidator(SANDBOX_AUTH_TOKEN).compute_signature(url, params, algorithm)
    headers = {SIGNATURE_HEADER: signature}
    if algorithm:
        headers[SIGNATURE_SETTINGS_HEADER] = f"key=webhooks_sharedkey_1,algorithm={algorithm}"
    return headers


async def post_signed(
    client: httpx.AsyncClient, path: str, params: dict[str, str], algorithm: str | None = None
) -> httpx.Response:
    return await client.post(
        path, data=params, headers=signed_headers(BASE + path, params, algorithm)
    )


def receipt_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "whatsapp:+34611001000",
        "From": "whatsapp:+14155238886",
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def test_a_signed_receipt_is_published_and_a_forged_one_is_not(api: Api) -> None:
    topic = Topics.from_settings(api.settings).message_status
    path = f"{STATUS}?campaignId=c-1&contactId=k-7"
    await record_sent(api.redis, api.settings.redis_key_prefix, "c-1", "k-7", "SM1")
    async with reading(api.settings, topic) as receipts:
        # Same message, so the same partition: had the forgery been published, it would
        # come before the genuine receipt.
        forged = receipt_params("SM1", "read")
        headers = signed_headers(BASE + path, {**forged, "MessageStatus": "sent"})
        refused = await api.anonymous.post(path, data=forged, headers=headers)
        unsigned = await api.anonymous.post(path, data=forged)
        other_url = await api.anonymous.post(
            f"{STATUS}?campaignId=c-2&contactId=k-7",
            data=forged,
            headers=signed_headers(BASE + path, forged),
        )
        accepted = await post_signed(
            api.anonymous, path, receipt_params("SM1", "undelivered", ErrorCode="30007")
        )
        events = await receipts.until(bool, what="the genuine receipt")

    for response in (refused, unsigned, other_url):
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.json()["message"]
    assert accepted.status_code == 204, accepted.text
    (event,) = events
    assert isinstance(event, MessageStatusReported)
    assert (event.message_sid, event.status, event.error_code) == ("SM1", "undelivered", 30007)
    assert (event.campaign_id, event.contact_id) == ("c-1", "k-7")
    assert (event.to, event.account_sid) == ("whatsapp:+34611001000", SANDBOX_ACCOUNT_SID)


async def test_a_sha256_signed_receipt_is_accepted(api: Api) -> None:
    topic = Topics.from_settings(api.settings).message_status
    path = f"{STATUS}?campaignId=c-1&contactId=k-1"
    params = receipt_params("SM2", "read")
    await record_sent(api.redis, api.settings.redis_key_prefix, "c-1", "k-1", "SM2")
    async with reading(api.settings, topic) as receipts:
        # The SHA-256 signature sent without the settings header is read as SHA-1.
        headers = signed_headers(BASE + path, params, "HMAC_SHA256")
        without_settings = await api.anonymous.post(
            path, data=params, headers={SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}
        )
        response = await post_signed(api.anonymous, path, params, "HMAC_SHA256")
        events = await receipts.until(bool, what="the receipt")
    assert without_settings.status_code == 403
    assert response.status_code == 204, response.text
    assert [(e.message_sid, e.status) for e in events] == [("SM2", "read")]


async def test_a_signed_json_receipt_is_checked_against_its_body_hash(api: Api) -> None:
    topic = Topics.from_settings(api.settings).message_status
    body = '{"MessageSid":"SM3","MessageStatus":"delivered"}'
    body_hash = hashlib.sha256(body.encode()).hexdigest()
    path = f"{STATUS}?campaignId=c-1&contactId=k-3&bodySHA256={body_hash}"
    headers = {**signed_headers(BASE + path, {}), "content-type": "application/json"}
    await record_sent(api.redis, api.settings.redis_key_prefix, "c-1", "k-3", "SM3")
    async with reading(api.settings, topic) as receipts:
        tampered = await api.anonymous.post(
            path, content=body.replace("delivered", "read"), headers=headers
        )
        response = await api.anonymous.post(path, content=body, headers=headers)
        events = await receipts.until(bool, what="the receipt")
    assert tampered.status_code == 403
    assert response.status_code == 204, response.text
    assert [(e.message_sid, e.status, e.campaign_id) for e in events] == [
        ("SM3", "delivered", "c-1")
    ]


async def test_a_signed_receipt_without_a_sid_is_422(api: Api) -> None:
    params = {"MessageStatus": "sent", "AccountSid": SANDBOX_ACCOUNT_SID}
    response = await post_signed(api.anonymous, STATUS, params)
    assert response.status_code == 422
    assert response.json()["field"] == "MessageSid"


_inbound_sids = itertools.count()


def inbound_params(phone: str, body: str) -> dict[str, str]:
    # A new SID each time: the api ignores a message SID it has seen.
    return {
        "MessageSid": f"SM{next(_inbound_sids):032x}",
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
    }


async def test_stop_suppresses_and_start_lifts_it(api: Api) -> None:
    store = api.suppressions
    phone = valid_phone(11)

    forged = await api.anonymous.post(INBOUND, data=inbound_params(phone, "STOP"))
    assert forged.status_code == 403
    assert await store.suppressed_among([phone]) == set()

    stop = await post_signed(api.anonymous, INBOUND, inbound_params(phone, " Baja "))
    assert stop.status_code == 200
    assert stop.headers["content-type"].startswith("text/xml")
    assert stop.text.endswith("<Response/>")
    assert await store.suppressed_among([phone]) == {phone}
    assert (await store.get(phone)).reason == "inbound_stop"

    chat = await post_signed(api.anonymous, INBOUND, inbound_params(phone, "stop the offers?"))
    assert chat.status_code == 200
    assert await store.suppressed_among([phone]) == {phone}

    start = await post_signed(api.anonymous, INBOUND, inbound_params(phone, "start"))
    assert start.status_code == 200
    assert await store.suppressed_among([phone]) == set()


async def test_webhooks_are_not_in_the_openapi_document(api: Api) -> None:
    paths = (await api.anonymous.get("/openapi.json")).json()["paths"]
    assert STATUS not in paths and INBOUND not in paths
    assert "/api/suppressions" in paths
