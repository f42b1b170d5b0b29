"""What a signed webhook still cannot do: crash the api, count twice when replayed, or
count a message the senders never sent."""

from __future__ import annotations

from services.api.webhook_signature import SIGNATURE_HEADER
from services.sender.ledger import LedgerState
from shared.events.models import MessageStatusReported
from shared.redis import Keys
from shared.send_ledger import ledger_key
from shared.topics import Topics
from tests.api.conftest import Api, valid_phone
from tests.api.test_webhooks import (
    BASE,
    INBOUND,
    STATUS,
    inbound_params,
    post_signed,
    receipt_params,
    signed_headers,
)
from tests.kafka_io import reading
from tests.ledger_entries import record_sent, sent_entry


async def test_a_json_receipt_without_a_body_hash_is_403_not_500(api: Api) -> None:
    path = f"{STATUS}?campaignId=c-1&contactId=k-1"
    body = '{"MessageSid":"SM1","MessageStatus":"delivered"}'
    # Signed over the URL alone, as if the body were not part of the request.
    headers = {**signed_headers(BASE + path, {}), "content-type": "application/json"}
    response = await api.anonymous.post(path, content=body, headers=headers)
    assert response.status_code == 403, response.text
    assert "X-Twilio-Signature" in response.json()["message"]
    assert "bodySHA256" in response.json()["detail"]


async def test_a_replayed_receipt_is_acknowledged_and_published_once(api: Api) -> None:
    topic = Topics.from_settings(api.settings).message_status
    path = f"{STATUS}?campaignId=c-1&contactId=k-1"
    await record_sent(api.redis, api.settings.redis_key_prefix, "c-1", "k-1", "SMreplayed")
    async with reading(api.settings, topic) as receipts:
        answers = [
            await post_signed(api.anonymous, path, receipt_params("SMreplayed", status))
            for status in ("sent", "sent", "sent", "delivered")
        ]
        # One message's receipts share a partition: replays would come before "delivered".
        events = await receipts.until(
            lambda seen: any(e.status == "delivered" for e in seen), what="the delivered receipt"
        )
    assert [answer.status_code for answer in answers] == [204] * 4
    assert [(e.message_sid, e.status) for e in events] == [
        ("SMreplayed", "sent"),
        ("SMreplayed", "delivered"),
    ]
    ttl = await api.redis.ttl(
        Keys(api.settings.redis_key_prefix)("webhook", "status", "SMreplayed", "sent")
    )
    assert 23 * 3600 < ttl <= 24 * 3600


async def test_a_replayed_stop_is_acknowledged_and_ignored(api: Api) -> None:
    store = api.suppressions
    phone = valid_phone(21)
    stop = {**inbound_params(phone, "STOP"), "MessageSid": "SMstop"}
    first = await post_signed(api.anonymous, INBOUND, stop)
    assert first.status_code == 200
    assert await store.suppressed_among([phone]) == {phone}

    await store.remove(phone, actor="alice")  # lifted some other way, say through the api
    for _ in range(2):
        replay = await post_signed(api.anonymous, INBOUND, stop)
        assert replay.status_code == 200
        assert replay.text.endswith("<Response/>")
    assert await store.suppressed_among([phone]) == set()

    # A new message with the same words is a new STOP.
    again = await post_signed(api.anonymous, INBOUND, {**stop, "MessageSid": "SMstop2"})
    assert again.status_code == 200
    assert await store.suppressed_among([phone]) == {phone}


async def test_an_inbound_message_without_a_sid_is_422(api: Api) -> None:
    params = inbound_params(valid_phone(22), "STOP")
    del params["MessageSid"]
    response = await post_signed(api.anonymous, INBOUND, params)
    assert response.status_code == 422
    assert response.json()["field"] == "MessageSid"


async def test_a_receipt_for_a_sid_the_ledger_does_not_know_is_not_counted(api: Api) -> None:
    topic = Topics.from_settings(api.settings).message_status
    prefix = api.settings.redis_key_prefix
    await record_sent(api.redis, prefix, "c-1", "k-1", "SMgenuine")
    await api.redis.hset(
        ledger_key(Keys(prefix), "c-1"), "k-2", sent_entry(None, LedgerState.CLAIMED)
    )
    # The probe: a message the ledger knows, under the made-up SID, so it shares the
    # partition of the made-up receipts and comes after them had they been published.
    await record_sent(api.redis, prefix, "c-probe", "k-probe", "SMmadeup")
    async with reading(api.settings, topic) as receipts:
        made_up = [
            await post_signed(api.anonymous, path, receipt_params("SMmadeup", "delivered"))
            for path in (
                f"{STATUS}?campaignId=c-1&contactId=k-1",  # sent as another SID
                f"{STATUS}?campaignId=c-1&contactId=k-2",  # claimed, not sent yet
                f"{STATUS}?campaignId=c-1&contactId=k-3",  # no entry
                f"{STATUS}?campaignId=c-9&contactId=k-1",  # no such campaign
                f"{STATUS}?campaignId=c-1",  # no contact
                STATUS,
            )
        ]
        probe = await post_signed(
            api.anonymous,
            f"{STATUS}?campaignId=c-probe&contactId=k-probe",
            receipt_params("SMmadeup", "delivered"),
        )
        events = await receipts.until(bool, what="the probe receipt")
    assert [answer.status_code for answer in made_up] == [204] * 6
    assert probe.status_code == 204
    assert len(events) == 1
    (event,) = events
    assert isinstance(event, MessageStatusReported)
    assert (event.message_sid, event.campaign_id, event.contact_id) == (
        "SMmadeup",
        "c-probe",
        "k-probe",
    )


async def test_an_empty_signature_is_refused(api: Api) -> None:
    path = f"{STATUS}?campaignId=c-1&contactId=k-1"
    response = await api.anonymous.post(
        path, data=receipt_params("SM1", "sent"), headers={SIGNATURE_HEADER: ""}
    )
    assert response.status_code == 403
