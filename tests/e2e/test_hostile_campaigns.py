"""One user's bad campaign beside a normal one: the bad one ends on its own, with a
reason, and the normal one goes out at its normal pace.

Each bad campaign is real bad data, published the way it would arrive: a
personalised text too long for WhatsApp and a zone-less expiry straight onto
campaign.events (the api refuses both at create time), and a stored audience entry
that is not JSON (the dispatcher's step fails on it every time).
"""

from __future__ import annotations

import asyncio
import base64
import json

import asyncpg

from shared.events.models import DeadLetter, MessageFailed
from shared.topics import Topics
from tests.e2e.test_campaigns import create_campaign, ledger, start, valid_phone, wait_finished
from tests.helpers import eventually_sync
from tests.kafka_io import publish_raw, reading

NORMAL_CONTACTS = 30
# At the default 10 messages a second, 30 contacts take 3 s. A dispatcher stalled by
# the bad campaign (crash-looping, or holding the partition in retries) takes far longer.
NORMAL_SPAN_MS = 8_000
LONG_BIO = "x" * 1_600
# The user of the e2e token (devstack.system.API_TOKENS): the api shows a campaign
# published to Kafka only to its owner.
OWNER = "marketer"


def _run_normal_campaign(client) -> str:
    phones = [valid_phone(i) for i in range(NORMAL_CONTACTS)]
    campaign = create_campaign(client, "normal", phones)
    start(client, campaign["id"])
    return campaign["id"]


def _assert_normal_completed_at_pace(client, sandbox_admin, campaign_id: str) -> None:
    status = wait_finished(client, campaign_id, timeout_s=60)
    assert status["progress"]["success"] == NORMAL_CONTACTS
    normal = {f"whatsapp:{valid_phone(i)}" for i in range(NORMAL_CONTACTS)}
    times = [m["accepted_at_ms"] for m in ledger(sandbox_admin) if m["to"] in normal]
    assert len(times) == NORMAL_CONTACTS
    assert max(times) - min(times) <= NORMAL_SPAN_MS


def _wait_completed(client, campaign_id: str) -> dict:
    """Like wait_finished, for a campaign the dispatcher has yet to take from Kafka."""

    def completed() -> dict | None:
        response = client.get(f"/api/campaigns/{campaign_id}/queue-status")
        if response.status_code == 404:
            return None
        status = response.json()["status"]
        account = status["account"]
        done = account["total"] > 0 and account["waiting"] == 0
        return status if done and status["status"] == "completed" else None

    return eventually_sync(completed, timeout_s=60, what=f"campaign {campaign_id} completed")


def _started_event(campaign_id: str, recipients: list[dict], **extra: object) -> bytes:
    return json.dumps(
        {
            "type": "CampaignStarted",
            "version": 1,
            "campaignId": campaign_id,
            "jobId": f"job-{campaign_id}",
            "ownerId": OWNER,
            "content": {"kind": "text", "body": "Hola {{bio}}"},
            "audience": {"kind": "inline", "recipients": recipients},
            **extra,
        }
    ).encode()


def _hostile_recipients(count: int, long_at: int) -> list[dict]:
    return [
        {
            "contactId": f"h{i}",
            "phone": valid_phone(5_000 + i),
            "vars": {"bio": LONG_BIO if i == long_at else f"bio {i}"},
        }
        for i in range(count)
    ]


def test_a_personalised_text_too_long_fails_that_contact_only(
    make_system, make_settings, sandbox_admin
) -> None:
    system = make_system()
    settings = make_settings()
    topics = Topics.from_settings(settings)
    asyncio.run(
        publish_raw(
            settings,
            topics.campaign_events,
            b"hostile-long",
            _started_event("hostile-long", _hostile_recipients(5, long_at=2)),
        )
    )
    with system.client() as client:
        normal_id = _run_normal_campaign(client)
        hostile = _wait_completed(client, "hostile-long")
        _assert_normal_completed_at_pace(client, sandbox_admin, normal_id)
    assert hostile["progress"]["processed"] == 5
    assert (hostile["progress"]["success"], hostile["progress"]["failed"]) == (4, 1)

    async def failure() -> MessageFailed:
        async with reading(settings, topics.message_results) as results:
            found = await results.until(
                lambda events: any(isinstance(e, MessageFailed) for e in events),
                what="the long contact's failure",
            )
        return next(e for e in found if isinstance(e, MessageFailed))

    failed = asyncio.run(failure())
    assert failed.contact_id == "h2"
    assert failed.error_message == "personalised text is 1,605 characters; WhatsApp allows 1,600"
    assert not failed.retryable
    sent_to = {m["to"] for m in ledger(sandbox_admin)}
    assert f"whatsapp:{valid_phone(5_002)}" not in sent_to
    assert f"whatsapp:{valid_phone(5_003)}" in sent_to


def test_a_zone_less_expiry_is_dead_lettered_and_stalls_nothing(
    make_system, make_settings, sandbox_admin
) -> None:
    system = make_system()
    settings = make_settings()
    topics = Topics.from_settings(settings)
    bad = _started_event(
        "hostile-naive", _hostile_recipients(3, long_at=-1), expiresAt="2030-01-01T00:00:00"
    )
    asyncio.run(publish_raw(settings, topics.campaign_events, b"hostile-naive", bad))
    with system.client() as client:
        normal_id = _run_normal_campaign(client)
        _assert_normal_completed_at_pace(client, sandbox_admin, normal_id)
        assert client.get("/api/campaigns/hostile-naive/queue-status").status_code == 404

    async def dead_letter() -> DeadLetter:
        async with reading(settings, topics.message_dlq) as letters:
            found = await letters.until(bool, what="the zone-less start dead-lettered")
        [letter] = found
        assert isinstance(letter, DeadLetter)
        return letter

    letter = asyncio.run(dead_letter())
    assert letter.source_topic == topics.campaign_events
    assert base64.b64decode(letter.original_base64) == bad
    assert "expiresAt" in letter.reason
    assert "timezone" in letter.reason
    # Nothing of it was sent: the record never became a campaign.
    assert not any(m["to"] == f"whatsapp:{valid_phone(5_000)}" for m in ledger(sandbox_admin))


def test_a_campaign_whose_step_keeps_failing_is_failed_with_its_reason(
    make_system, make_settings, sandbox_admin
) -> None:
    system = make_system(batch_retry_delay_ms=200)
    settings = make_settings()
    topics = Topics.from_settings(settings)
    with system.client() as client:
        bad = create_campaign(client, "corrupt", [valid_phone(5_000 + i) for i in range(5)])
        # A row changed by hand: a phone no Recipient accepts.
        asyncio.run(_corrupt_recipient(system.env["DATABASE_URL"], bad["id"], position=2))
        start(client, bad["id"])
        normal_id = _run_normal_campaign(client)

        def failed() -> dict | None:
            body = client.get(f"/api/campaigns/{bad['id']}/queue-status").json()["status"]
            return body if body["status"] == "failed" else None

        status = eventually_sync(failed, timeout_s=60, what="the corrupt campaign failed")
        _assert_normal_completed_at_pace(client, sandbox_admin, normal_id)
    reason = status["failureReason"]
    assert reason.startswith("dispatcher failed 4 times on this campaign: ValidationError")
    assert "Recipient" in reason

    async def dead_letter() -> DeadLetter:
        async with reading(settings, topics.message_dlq) as letters:
            found = await letters.until(bool, what="the failing tick dead-lettered")
        [letter] = found
        assert isinstance(letter, DeadLetter)
        return letter

    letter = asyncio.run(dead_letter())
    assert letter.source_topic == topics.dispatcher_ticks
    assert base64.b64decode(letter.original_base64) == bad["id"].encode()
    assert letter.reason == reason
    assert not any(m["to"] == f"whatsapp:{valid_phone(5_000)}" for m in ledger(sandbox_admin))


async def _corrupt_recipient(database_url: str, campaign_id: str, position: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE recipients SET phone = '' WHERE campaign_id = $1 AND position = $2",
            campaign_id,
            position,
        )
    finally:
        await connection.close()
