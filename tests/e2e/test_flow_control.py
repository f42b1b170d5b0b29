"""Flow control: a million contacts keep the Kafka backlog and every service's memory bounded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from services.dispatcher.settings import DispatcherSettings
from shared.events.models import Recipient, TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.recipients import RecipientStore
from tests.e2e.test_campaigns import start
from tests.helpers import eventually_sync

CONTACTS = 1_000_000
BATCH_SIZE = 500
MAX_CONCURRENT_BATCHES = 10
BACKLOG_LIMIT = MAX_CONCURRENT_BATCHES * BATCH_SIZE * 2
RSS_LIMIT_MB = 300
PARTITIONS = 8
SEND_RATE = 500
COMMANDS_PER_RECORD = DispatcherSettings.model_fields["commands_per_record"].default


async def _seed_campaign(env: dict[str, str], campaign_id: str) -> None:
    """A million-contact campaign as the api stores it (creating one over REST is the
    CSV import's job, measured on its own)."""
    redis = Redis.from_url(env["REDIS_URL"])
    database = await asyncpg.create_pool(env["DATABASE_URL"], min_size=1, max_size=1)
    try:
        store = CampaignStore(database, redis, Keys(env["REDIS_KEY_PREFIX"]))
        recipients = (
            Recipient(contact_id=f"c{i}", phone=f"+3461{i // 9000:03d}{i % 9000 + 1000:04d}")
            for i in range(CONTACTS)
        )
        assert await RecipientStore(database).freeze(campaign_id, recipients) == CONTACTS
        await store.create(
            CampaignRecord(
                id=campaign_id,
                owner_id="marketer",
                name="a million",
                status="draft",
                content=TextContent(body="Hola"),
                total=CONTACTS,
                created_at=datetime.now(UTC),
            )
        )
    finally:
        await redis.aclose()
        await database.close()


class Sampler:
    """Backlog of message.commands (end offsets minus the sender group's commits, in
    records) and the resident memory of every service, sampled until stopped."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int, pids: dict[str, int]) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        self._topic = f"{prefix}message.commands"
        self._group = f"{prefix}sender"
        self._pids = pids
        self.backlogs: list[int] = []
        self.peak_rss_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = asyncio.Event()

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap)
        await admin.start()
        await consumer.start()
        try:
            partitions = [TopicPartition(self._topic, p) for p in range(self._partitions)]
            while not self._stop.is_set():
                ends = await consumer.end_offsets(partitions)
                committed = await admin.list_consumer_group_offsets(self._group)
                self.backlogs.append(
                    sum(
                        end - (committed[tp].offset if tp in committed else 0)
                        for tp, end in ends.items()
                    )
                )
                for name, pid in self._pids.items():
                    self.peak_rss_mb[name] = max(self.peak_rss_mb[name], _rss_mb(pid))
                try:
                    await asyncio.wait_for(self._stop.wait(), 0.25)
                except TimeoutError:
                    pass
        finally:
            await consumer.stop()
            await admin.close()

    def stop(self) -> None:
        self._stop.set()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_a_million_contacts_started_and_stopped_stay_bounded(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    # Senders slower than the dispatcher can expand: without credits the backlog would
    # grow by thousands a second.
    system = make_system(
        sender_replicas=2,
        batch_size=BATCH_SIZE,
        max_concurrent_batches=MAX_CONCURRENT_BATCHES,
        message_commands_partitions=PARTITIONS,
        twilio_rate_limit_per_second=SEND_RATE,
        twilio_rate_limit_per_minute=SEND_RATE * 60,
        twilio_rate_limit_per_hour=SEND_RATE * 3600,
    )
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    await _seed_campaign(system.env, "million")
    pids = {name: system.table.get(name).pid for name in system.names()}
    sampler = Sampler(system.env["KAFKA_BOOTSTRAP_SERVERS"], prefix, PARTITIONS, pids)
    sampling = asyncio.create_task(sampler.run())

    def status() -> dict:
        with system.client() as client:
            return client.get("/api/campaigns/million/queue-status").json()["status"]

    try:
        with system.client() as client:
            started = await asyncio.to_thread(start, client, "million")
        assert started["estimatedContacts"] == CONTACTS
        # Run long enough for many rounds of credits: well past the first window.
        await asyncio.to_thread(
            eventually_sync,
            lambda: status()["progress"]["processed"] >= 3 * MAX_CONCURRENT_BATCHES * BATCH_SIZE,
            timeout_s=180,
            what="three windows of batches processed",
        )
        with system.client() as client:
            stop = await asyncio.to_thread(client.post, "/api/campaigns/million/queue-stop")
        assert stop.status_code == 200, stop.text
        stopped_at = time.monotonic()
        final = await asyncio.to_thread(
            eventually_sync,
            lambda: (s := status())["account"]["waiting"] == 0 and s,
            timeout_s=300,
            what="every contact sent or cancelled",
        )
        print(f"stop settled in {time.monotonic() - stopped_at:.1f} s")
    finally:
        sampler.stop()
        await sampling

    # A record holds up to COMMANDS_PER_RECORD commands: count each as full.
    largest = max(sampler.backlogs) * COMMANDS_PER_RECORD
    print(f"backlog samples: {len(sampler.backlogs)}, largest <= {largest} commands")
    print(f"peak RSS MB: { {k: round(v) for k, v in sampler.peak_rss_mb.items()} }")
    assert final["status"] == "stopped"
    progress = final["progress"]
    metrics = final["metrics"]
    assert progress["success"] + metrics["cancelled"] == CONTACTS
    assert len(sampler.backlogs) > 20
    assert largest < BACKLOG_LIMIT, largest
    assert all(peak < RSS_LIMIT_MB for peak in sampler.peak_rss_mb.values()), sampler.peak_rss_mb
