"""A test send end to end: the api's flagged command through a sender to the sandbox's
ledger, its outcome read by the metrics service and counted in nothing."""

from __future__ import annotations

import asyncio

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack.system import System
from shared.events import decode
from shared.events.models import MessageOutcome
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    ledger,
    start,
    valid_phone,
    wait_finished,
)
from tests.helpers import eventually, eventually_sync

RESULTS_TIMEOUT_S = 60


def test_a_test_send_reaches_twilio_and_leaves_a_finished_campaign_as_it_was(
    make_system, sandbox_admin
) -> None:
    system = make_system(dashboard_cache_s=0, **FAST)
    testers = [valid_phone(900), valid_phone(901)]
    with system.client() as client:
        campaign = create_campaign(
            client, "tested", [valid_phone(i) for i in range(3)], message="Hola {{name}}"
        )
        campaign_id = campaign["id"]
        start(client, campaign_id)
        wait_finished(client, campaign_id, timeout_s=60)
        before = _campaign_story(client, campaign_id)

        response = client.post(f"/api/campaigns/{campaign_id}/test-send", json={"phones": testers})
        assert response.status_code == 202, response.text
        queued = response.json()["messages"]

        landed = eventually_sync(
            lambda: _to_testers(ledger(sandbox_admin), testers),
            timeout_s=RESULTS_TIMEOUT_S,
            what="both test messages in the sandbox's ledger",
        )
        asyncio.run(_metrics_read_past(system, {message["id"] for message in queued}))
        after = _campaign_story(client, campaign_id)

    assert sorted(message["to"] for message in landed) == [f"whatsapp:{p}" for p in testers]
    assert {message["body"] for message in landed} == {"Hola Test"}
    # Each tester once, and the campaign's three contacts once: nothing sent twice.
    assert len(ledger(sandbox_admin)) == 5
    assert after == before
    assert before["status"] == "completed"


def _to_testers(messages: list[dict], testers: list[str]) -> list[dict] | None:
    found = [m for m in messages if m["to"] in {f"whatsapp:{p}" for p in testers}]
    return found if len(found) == len(testers) else None


def _campaign_story(client: httpx.Client, campaign_id: str) -> dict:
    """Everything a person reads of the campaign: status and history, queue-status's
    counts, the recipients table and the dashboard's counts."""
    status = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]
    dashboard = client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]
    return {
        "status": client.get(f"/api/campaigns/{campaign_id}").json()["status"],
        "history": client.get(f"/api/campaigns/{campaign_id}/status-history").json(),
        "progress": status["progress"],
        "metrics": status.get("metrics"),
        "recipients": client.get(f"/api/campaigns/{campaign_id}/recipients").json(),
        "dashboard": {
            part: dashboard[part]
            for part in ("campaignQueue", "processingQueue", "totals", "funnel")
        },
    }


async def _metrics_read_past(system: System, test_ids: set[str]) -> None:
    """Wait until the test sends' outcomes are on message.results and the metrics
    service has committed past them: whatever it was to do with them, it has done."""
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = system.env.get("KAFKA_TOPIC_PREFIX", "")
    consumer = AIOKafkaConsumer(
        f"{prefix}message.results", bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        # The offset just past each test outcome, by partition.
        where: dict[TopicPartition, int] = {}
        seen: set[str] = set()

        async def outcomes_seen() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                for record in records:
                    event = decode(record.value)
                    if isinstance(event, MessageOutcome) and event.contact_id in test_ids:
                        assert event.test_send
                        seen.add(event.contact_id)
                        where[tp] = max(where.get(tp, 0), record.offset + 1)
            return seen == test_ids

        await eventually(outcomes_seen, timeout_s=RESULTS_TIMEOUT_S, what="test outcomes")

        async def folded() -> bool:
            committed = await admin.list_consumer_group_offsets(f"{prefix}metrics")
            return all(tp in committed and committed[tp].offset >= end for tp, end in where.items())

        await eventually(folded, timeout_s=RESULTS_TIMEOUT_S, what="metrics past test outcomes")
    finally:
        await consumer.stop()
        await admin.close()
