"""Pause, resume and stop on the running system, measured on the sandbox's ledger."""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaProducer

from tests.e2e.test_campaigns import create_campaign, ledger, start, valid_phone, wait_finished
from tests.helpers import eventually_sync

CONTACTS = 200
# Slow enough that a campaign is still sending when the test acts on it.
PACED = {
    "twilio_rate_limit_per_second": 20,
    "twilio_rate_limit_per_minute": 1_200,
    "twilio_rate_limit_per_hour": 72_000,
}


def _status(client, campaign_id: str) -> dict:
    return client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]


def _settled(sandbox, quiet_ms: int = 1_000):
    """The ledger once no message was accepted for ``quiet_ms``."""

    def quiet() -> list | None:
        messages = ledger(sandbox)
        newest = max((m["accepted_at_ms"] for m in messages), default=0)
        return messages if time.time() * 1000 - newest >= quiet_ms else None

    return eventually_sync(quiet, timeout_s=30, what="no new message for a second")


def test_pause_holds_every_send_and_resume_sends_the_rest_once(make_system, sandbox_admin):
    """Ten pause / resume cycles in one campaign on two sender replicas."""
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(sender_replicas=2, **PACED)
    contacts = 400
    phones = [valid_phone(i) for i in range(contacts)]
    lateness_ms = []
    with system.client() as client:
        campaign = create_campaign(client, "paused", phones)
        campaign_id = campaign["id"]
        start(client, campaign_id)
        for _ in range(10):
            sent_before = len(ledger(sandbox_admin))
            eventually_sync(
                lambda n=sent_before: len(ledger(sandbox_admin)) >= n + 10,
                timeout_s=30,
                what="ten more sent",
            )
            response = client.post(f"/api/campaigns/{campaign_id}/queue-pause")
            paused_at_ms = time.time() * 1000
            assert response.status_code == 200, response.text
            held = _settled(sandbox_admin)
            lateness_ms.append(max(m["accepted_at_ms"] for m in held) - paused_at_ms)
            assert len(held) < contacts
            assert _status(client, campaign_id)["status"] == "paused"
            assert client.post(f"/api/campaigns/{campaign_id}/queue-resume").status_code == 200
        done = wait_finished(client, campaign_id, timeout_s=120)

    # The last message accepted after each pause answered: never more than 500 ms later.
    print(f"last acceptance after each pause, ms: {sorted(round(x) for x in lateness_ms)}")
    assert max(lateness_ms) <= 500, lateness_ms
    assert done["progress"]["success"] == contacts
    recipients = [m["to"] for m in ledger(sandbox_admin)]
    assert sorted(recipients) == sorted(f"whatsapp:{phone}" for phone in phones)


def test_stop_cancels_every_unsent_contact(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**PACED)
    with system.client() as client:
        campaign = create_campaign(client, "stopped", [valid_phone(i) for i in range(CONTACTS)])
        start(client, campaign["id"])
        eventually_sync(lambda: len(ledger(sandbox_admin)) >= 20, timeout_s=30, what="20 sent")
        assert client.post(f"/api/campaigns/{campaign['id']}/queue-stop").status_code == 200
        stopped_at_ms = time.time() * 1000

        def all_counted() -> dict | None:
            status = _status(client, campaign["id"])
            settled = status["account"]["waiting"] == 0
            return status if settled and status["account"]["total"] == CONTACTS else None

        status = eventually_sync(all_counted, timeout_s=60, what="every contact counted")
        sent = _settled(sandbox_admin)

    assert status["status"] == "stopped"
    cancelled = status["metrics"]["cancelled"]
    assert status["progress"]["success"] + cancelled == CONTACTS
    assert cancelled > 0
    assert len(sent) == status["progress"]["success"]
    assert max(m["accepted_at_ms"] for m in sent) - stopped_at_ms <= 500


def test_pause_and_resume_published_as_raw_kafka_events(make_system, sandbox_admin, stack):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**PACED)
    topic = f"{system.env['KAFKA_TOPIC_PREFIX']}campaign.events"
    with system.client() as client:
        campaign = create_campaign(client, "raw control", [valid_phone(i) for i in range(100)])
        campaign_id = campaign["id"]
        start(client, campaign_id)
        eventually_sync(lambda: len(ledger(sandbox_admin)) >= 10, timeout_s=30, what="10 sent")

        # Another service, knowing nothing of this project's code, pauses the campaign.
        raw_pause = json.dumps({"type": "CampaignPaused", "version": 1, "campaignId": campaign_id})
        asyncio.run(_produce_raw(stack.kafka_bootstrap, topic, campaign_id, raw_pause.encode()))
        eventually_sync(
            lambda: _status(client, campaign_id)["status"] == "paused",
            timeout_s=10,
            what="campaign paused by the raw event",
        )
        held = _settled(sandbox_admin)
        assert len(held) < 100

        raw_resume = json.dumps(
            {"type": "CampaignResumed", "version": 1, "campaignId": campaign_id}
        )
        asyncio.run(_produce_raw(stack.kafka_bootstrap, topic, campaign_id, raw_resume.encode()))
        done = wait_finished(client, campaign_id, timeout_s=60)
    assert done["progress"]["success"] == 100
    recipients = [m["to"] for m in ledger(sandbox_admin)]
    assert len(recipients) == len(set(recipients)) == 100


async def _produce_raw(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()
