"""The dashboard from real state: campaign rows, progress, Kafka offsets, heartbeats."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import TopicPartition

from shared.kafka import make_consumer, make_producer
from shared.redis import Keys
from shared.store.progress import ProgressStore
from shared.topics import Topics
from tests.api.conftest import Api, create_campaign, valid_phone
from tests.helpers import eventually


async def _produce(api: Api, topic: str, per_partition: dict[int, int]) -> None:
    producer = make_producer(api.settings)
    await producer.start()
    try:
        for partition, count in per_partition.items():
            for n in range(count):
                await producer.send_and_wait(
                    topic, b"{}", key=f"k{n}".encode(), partition=partition
                )
    finally:
        await producer.stop()


async def _commit(api: Api, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = make_consumer(api.settings, group_id=group)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


# The original contract's fields (GET /api/dashboard/campaign-queue-metrics).
ORIGINAL_COUNTS = ("waiting", "active", "completed", "failed", "delayed")
ORIGINAL_SYSTEM = (
    "campaignsProcessed",
    "messagesSent",
    "messagesFailed",
    "averageProcessingTime",
    "activeWorkers",
    "circuitBreakerStatus",
)


async def test_dashboard_reports_counts_backlog_lag_and_workers(api: Api) -> None:
    topics = Topics.from_settings(api.settings)
    prefix = api.settings.kafka_topic_prefix
    keys = Keys(api.settings.redis_key_prefix)

    await create_campaign(api.alice, name="draft")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await create_campaign(api.alice, name="later", scheduledAt=later)
    running = await create_campaign(
        api.alice, contacts=[{"phone": valid_phone(i)} for i in range(4)]
    )
    paused = await create_campaign(api.alice)
    await create_campaign(api.bob, name="bob's draft")
    for campaign in (running, paused):
        assert (await api.alice.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 200
    assert (await api.alice.post(f"/api/campaigns/{paused['id']}/queue-pause")).status_code == 200

    progress = ProgressStore(api.redis, keys)
    await progress.begin(running["id"], 4, 2, int(time.time() * 1000))
    await progress.record_emitted(running["id"], 2, 4)
    for contact, outcome, batch in (
        ("inline-0", "sent", 0),
        ("inline-1", "sent", 0),
        ("inline-2", "failed", 1),
    ):
        await progress.fold(
            running["id"], [contact], outcome, batch, 21211 if outcome == "failed" else None, 5
        )

    # 5 + 3 commands waiting; the sender group has consumed 2 of partition 0.
    await _produce(api, topics.message_commands, {0: 5, 1: 3})
    await _commit(api, f"{prefix}sender", {TopicPartition(topics.message_commands, 0): 2})

    now_ms = int(time.time() * 1000)
    await api.redis.hset(
        keys("workers", "sender"),
        mapping={
            "sender-0": orjson.dumps({"atMs": now_ms, "breaker": "open"}),
            "sender-1": orjson.dumps({"atMs": now_ms - 600_000, "breaker": "closed"}),
        },
    )

    response = await api.alice.get("/api/dashboard/campaign-queue-metrics")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    metrics = body["metrics"]
    assert set(metrics) == {
        "campaignQueue", "processingQueue", "totals", "account", "funnel", "system"
    }  # fmt: skip
    # The original contract's six for everyone; infrastructure is for admins only.
    system = metrics["system"]
    assert {key: system[key] for key in ORIGINAL_SYSTEM} == {
        "campaignsProcessed": 0,
        "messagesSent": 2,
        "messagesFailed": 1,
        "averageProcessingTime": None,
        "activeWorkers": 1,
        "circuitBreakerStatus": "open",
    }
    assert system["redis"] is system["kafka"] is system["circuitBreakers"] is None
    assert metrics["processingQueue"]["consumerLag"] == {}
    assert metrics["totals"] == {"sent": 2, "failed": 1}
    # The same account as each campaign's queue-status, summed: every recipient once.
    account = metrics["account"]
    assert (account["succeeded"], account["failedAtSend"], account["processed"]) == (2, 1, 3)
    states = ("delivered", "sent", "failedAtSend", "failedAfterAcceptance", "undelivered",
              "skipped", "cancelled", "expired", "waiting")  # fmt: skip
    assert sum(account[state] for state in states) == account["total"]
    queue = metrics["campaignQueue"]
    assert {
        k: queue[k] for k in ("waiting", "active", "completed", "failed", "paused", "scheduled")
    } == {"waiting": 1, "active": 0, "completed": 0, "failed": 0, "paused": 1, "scheduled": 1}
    assert queue["draft"] == 1  # bob's draft is not alice's

    assert queue["delayed"] == 1  # the original's name for the scheduled one

    processing = metrics["processingQueue"]
    assert processing["inFlightBatches"] == 1  # batch 1 emitted, one of its two done
    assert processing["pendingMessages"] == 1 + 3  # running: 1 left; paused: all 3
    # The original's five, in messages: the running one's last with the senders, the
    # paused one's three held.
    assert {key: processing[key] for key in ORIGINAL_COUNTS} == {
        "waiting": 0,
        "active": 1,
        "completed": 2,
        "failed": 1,
        "delayed": 3,
    }

    admin_view = (await api.admin.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    processing = admin_view["processingQueue"]
    # alice's backlog is hers: the admin owns no campaign.
    assert (processing["pendingMessages"], processing["inFlightBatches"]) == (0, 0)
    lag = processing["consumerLag"]
    assert lag[topics.message_commands] == 3 + 3
    assert lag[topics.message_results] == 0
    # No dispatcher has read campaign.events: both CampaignStarted, the CampaignScheduled
    # and the CampaignPaused wait for it.
    assert lag[topics.campaign_events] == 4
    assert processing["consumerGroups"][f"{prefix}sender"] == {topics.message_commands: 6}

    system = admin_view["system"]
    assert set(system) >= {
        "activeWorkers",
        "uptimeS",
        "redis",
        "kafka",
        "averageProcessingTimeMs",
        "totals",
    }
    assert system["activeWorkers"] == 1
    assert system["circuitBreakers"] == {"sender-0": "open"}
    assert system["uptimeS"] > 0
    assert system["redis"]["connected"] is True and system["redis"]["usedMemoryBytes"] > 0
    assert system["kafka"]["connected"] is True
    assert system["totals"] == admin_view["totals"] == {"sent": 0, "failed": 0}

    # Numbers are cached for about 2 s, then read again from Kafka.
    await _commit(api, f"{prefix}sender", {TopicPartition(topics.message_commands, 1): 3})

    async def sender_lag() -> bool:
        answer = await api.admin.get("/api/dashboard/campaign-queue-metrics")
        return (
            answer.json()["metrics"]["processingQueue"]["consumerLag"][topics.message_commands] == 3
        )

    await eventually(sender_lag, timeout_s=15, what="sender lag read again after a commit")
    bob_view = (await api.bob.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    assert bob_view["campaignQueue"]["draft"] == 1
    assert bob_view["campaignQueue"]["waiting"] == 0
    assert bob_view["totals"] == {"sent": 0, "failed": 0}
    assert bob_view["processingQueue"]["pendingMessages"] == 0  # alice's is not bob's
    assert bob_view["system"]["messagesSent"] == 0 and bob_view["system"]["redis"] is None
