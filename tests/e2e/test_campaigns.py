"""Campaigns end to end: REST in, Kafka through four services, the sandbox's ledger out."""

from __future__ import annotations

import asyncio
import bisect
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from devstack.system import ADMIN_TOKEN
from tests.helpers import eventually_sync

# High enough that only the pipeline itself limits a test that is not about the rate.
FAST = {
    "twilio_rate_limit_per_second": 100_000,
    "twilio_rate_limit_per_minute": 6_000_000,
    "twilio_rate_limit_per_hour": 360_000_000,
}


def valid_phone(index: int) -> str:
    """Spanish mobiles whose last four digits never match the sandbox's failure patterns."""
    return f"+3461{index // 9000:03d}{index % 9000 + 1000:04d}"


def invalid_phone(index: int) -> str:
    """Numbers the sandbox refuses at creation with 21211, as Twilio does."""
    return f"+3462{index:03d}0000"


def create_campaign(client: httpx.Client, name: str, phones: list[str], **extra) -> dict:
    body = {
        "name": name,
        "message": "Hola {{name}}",
        "contacts": [{"phone": phone, "name": f"n{i}"} for i, phone in enumerate(phones)],
        **extra,
    }
    response = client.post("/api/campaigns", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def start(client: httpx.Client, campaign_id: str) -> dict:
    response = client.post(f"/api/campaigns/{campaign_id}/start")
    assert response.status_code in (200, 202), response.text
    return response.json()


def wait_finished(client: httpx.Client, campaign_id: str, timeout_s: float) -> dict:
    def finished() -> dict | None:
        status = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]
        account = status["account"]
        done = account["total"] > 0 and account["waiting"] == 0
        return status if done and status["status"] == "completed" else None

    return eventually_sync(finished, timeout_s=timeout_s, what=f"campaign {campaign_id} completed")


def ledger(sandbox: httpx.Client, **params) -> list[dict]:
    response = sandbox.get("/_sandbox/ledger", params=params)
    response.raise_for_status()
    return response.json()["messages"]


async def recipient_rows(database_url: str, campaign_id: str) -> list[dict]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT position, phone, state, error_code, message_sid, reason, outcome_at"
            " FROM recipients WHERE campaign_id = $1 ORDER BY position",
            campaign_id,
        )
        return [dict(row) for row in rows]
    finally:
        await connection.close()


def test_ten_thousand_contacts_complete_with_exact_counts(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, message_commands_partitions=8, **FAST)
    valid = [valid_phone(i) for i in range(9_980)]
    invalid = [invalid_phone(i) for i in range(20)]
    with system.client() as client:
        campaign = create_campaign(client, "ten thousand", valid + invalid)
        started = start(client, campaign["id"])
        assert started["estimatedContacts"] == 10_000
        status = wait_finished(client, campaign["id"], timeout_s=600)

    progress = status["progress"]
    assert progress["total"] == progress["processed"] == 10_000
    assert (progress["success"], progress["failed"]) == (9_980, 20)
    assert progress["success"] + progress["failed"] == progress["processed"]
    assert status["metrics"]["errorsByCode"] == {"21211": 20}
    accepted = ledger(sandbox_admin)
    recipients = [message["to"] for message in accepted]
    assert len(recipients) == len(set(recipients)) == 9_980
    assert set(recipients) == {f"whatsapp:{phone}" for phone in valid}


# The original contract's counts of messages (GET /api/dashboard/campaign-queue-metrics).
ORIGINAL_PROCESSING = ("waiting", "active", "completed", "failed", "delayed")


def _most_in_any_second(times_ms: list[int]) -> int:
    ordered = sorted(times_ms)
    return max(bisect.bisect_left(ordered, t + 1_000) - i for i, t in enumerate(ordered))


def test_default_limits_pace_fifty_messages_over_five_seconds(make_system, sandbox_admin) -> None:
    # Default limits: 10/s, 600/min, 36,000/h; sandbox at 10/s. The dashboard uncached.
    system = make_system(dashboard_cache_s=0)
    with system.client() as client:
        campaign = create_campaign(client, "paced", [valid_phone(i) for i in range(50)])
        start(client, campaign["id"])

        def dashboard() -> dict:
            return client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]

        def partly_sent() -> dict | None:
            queue = dashboard()["processingQueue"]
            return queue if 0 < queue["completed"] < 50 else None

        # The original contract's processingQueue moves while the campaign sends.
        midway = eventually_sync(partly_sent, timeout_s=30, what="some of the fifty sent, not all")
        assert midway["waiting"] + midway["active"] + midway["delayed"] == 50 - midway["completed"]
        wait_finished(client, campaign["id"], timeout_s=60)
        done = dashboard()
        assert {k: done["processingQueue"][k] for k in ORIGINAL_PROCESSING} == {
            "waiting": 0,
            "active": 0,
            "completed": 50,
            "failed": 0,
            "delayed": 0,
        }
        assert (done["system"]["messagesSent"], done["system"]["campaignsProcessed"]) == (50, 1)
        assert done["campaignQueue"]["completed"] == 1
    times = [message["accepted_at_ms"] for message in ledger(sandbox_admin)]
    assert len(times) == 50
    assert max(times) - min(times) >= 4_500
    assert _most_in_any_second(times) <= 10
    stats = sandbox_admin.get("/_sandbox/stats").json()["responses"]
    assert stats.get("429", 0) == 0


def test_two_campaigns_started_together_both_complete(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    with system.client() as client:
        first = create_campaign(client, "first", [valid_phone(i) for i in range(300)])
        second = create_campaign(client, "second", [valid_phone(i) for i in range(300, 500)])
        start(client, first["id"])
        start(client, second["id"])
        done_first = wait_finished(client, first["id"], timeout_s=120)
        done_second = wait_finished(client, second["id"], timeout_s=120)
        dashboard = client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]
    with system.client(ADMIN_TOKEN) as admin:
        system_part = admin.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]["system"]
    assert dashboard["campaignQueue"]["completed"] == 2
    assert system_part["activeWorkers"] == 1
    assert system_part["circuitBreakers"] == {"sender-0": "closed"}
    assert dashboard["totals"] == {"sent": 500, "failed": 0}
    assert (done_first["progress"]["success"], done_second["progress"]["success"]) == (300, 200)
    assert len(ledger(sandbox_admin)) == 500


def test_a_campaign_published_as_raw_bytes_runs(make_system, sandbox_admin, stack) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    recipients = [
        {"contactId": f"ext-{i}", "phone": valid_phone(i), "name": f"n{i}"} for i in range(40)
    ]
    raw = json.dumps(
        {
            "type": "CampaignStarted",
            "version": 1,
            "campaignId": "external-1",
            "jobId": "external-job-1",
            "content": {"kind": "text", "body": "Hello {{name}}"},
            "audience": {"kind": "inline", "recipients": recipients},
        }
    ).encode()

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
        await producer.start()
        try:
            topic = f"{system.env['KAFKA_TOPIC_PREFIX']}campaign.events"
            await producer.send_and_wait(topic, raw, key=b"external-1")
        finally:
            await producer.stop()

    asyncio.run(produce())
    # Published without an ownerId: an admin's campaign, hidden from marketers.
    with system.client(ADMIN_TOKEN) as admin:
        status = wait_finished(admin, "external-1", timeout_s=60)
    with system.client() as marketer:
        assert marketer.get("/api/campaigns/external-1/queue-status").status_code == 404
    assert status["progress"]["success"] == 40
    bodies = {message["to"]: message["body"] for message in ledger(sandbox_admin)}
    assert bodies[f"whatsapp:{valid_phone(3)}"] == "Hello n3"
    # Its recipients are recorded like those of a campaign made through the api.
    rows = asyncio.run(recipient_rows(system.env["DATABASE_URL"], "external-1"))
    assert [(row["phone"], row["state"]) for row in rows] == [
        (valid_phone(i), "sent") for i in range(40)
    ]


def test_a_scheduled_campaign_starts_on_time_across_a_restart(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    due = datetime.now(UTC) + timedelta(seconds=12)
    with system.client() as client:
        campaign = create_campaign(
            client, "later", [valid_phone(i) for i in range(5)], scheduledAt=due.isoformat()
        )
        assert campaign["status"] == "scheduled"
    system.stop_all()
    assert ledger(sandbox_admin) == []
    system.start_all()
    with system.client() as client:
        wait_finished(client, campaign["id"], timeout_s=60)
        record = client.get(f"/api/campaigns/{campaign['id']}").json()
    started_at = datetime.fromisoformat(record["startedAt"])
    assert started_at >= due
    assert started_at - due <= timedelta(seconds=1)
    first_accepted_ms = min(message["accepted_at_ms"] for message in ledger(sandbox_admin))
    assert first_accepted_ms / 1000 - due.timestamp() <= 1.5
