"""What every scenario needs: a system of its own, the sandbox, and honest clocks.

Each scenario starts the services as processes (devstack.system) on the stack's
Kafka, Redis and sandbox, under its own topic and key prefixes, and stops them
when it is done, so scenarios never see each other's messages.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from devstack.processes import ProcessTable
from devstack.system import API_TOKENS, System
from shared.events.models import Recipient, TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore

T = TypeVar("T")
# Limits high enough that only the pipeline itself limits a scenario.
UNLIMITED = {
    "TWILIO_RATE_LIMIT_PER_SECOND": "1000000",
    "TWILIO_RATE_LIMIT_PER_MINUTE": "60000000",
    "TWILIO_RATE_LIMIT_PER_HOUR": "3600000000",
}


def limits(per_second: int) -> dict[str, str]:
    return {
        "TWILIO_RATE_LIMIT_PER_SECOND": str(per_second),
        "TWILIO_RATE_LIMIT_PER_MINUTE": str(per_second * 60),
        "TWILIO_RATE_LIMIT_PER_HOUR": str(per_second * 3600),
    }


def wait_until(probe: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.05) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def phone(index: int) -> str:
    """Spanish mobiles the sandbox accepts (never its failure patterns)."""
    return f"+3461{index // 9000:03d}{index % 9000 + 1000:04d}"


class Bench:
    def __init__(self, stack: dict[str, str], run_dir: Path) -> None:
        self.stack = stack
        self.run_dir = run_dir
        self.sandbox = httpx.Client(base_url=stack["TWILIO_API_BASE_URL"], timeout=60)

    @contextmanager
    def system(self, sender_replicas: int, **env: str) -> Iterator[System]:
        prefix = f"b{uuid.uuid4().hex[:8]}."
        run = self.run_dir / prefix.rstrip(".")
        base = {
            **self.stack,
            "KAFKA_TOPIC_PREFIX": prefix,
            "REDIS_KEY_PREFIX": prefix,
            "MESSAGE_COMMANDS_PARTITIONS": "12",
            "MESSAGE_RESULTS_PARTITIONS": "6",
            "API_TOKENS": API_TOKENS,
            "DISPATCHER_DATA_DIR": str(run / "dispatcher"),
            "LOG_LEVEL": "WARNING",
        }
        system = System(
            env={**base, **env},
            table=ProcessTable(run),
            sandbox_url=self.stack["TWILIO_API_BASE_URL"],
            sender_replicas=sender_replicas,
        )
        self.sandbox.delete("/_sandbox/faults").raise_for_status()
        self.sandbox.delete("/_sandbox/ledger").raise_for_status()
        try:
            system.start_all()
            yield system
        finally:
            system.stop_all()

    def faults(self, **faults: object) -> None:
        self.sandbox.post("/_sandbox/faults", json=faults).raise_for_status()

    def ledger_times(self, since_ms: int | None = None) -> list[int]:
        params = {"since_ms": since_ms} if since_ms is not None else {}
        messages = self.sandbox.get("/_sandbox/ledger", params=params).json()["messages"]
        return sorted(m["accepted_at_ms"] for m in messages)


def create_and_start(client: httpx.Client, name: str, count: int, offset: int = 0) -> str:
    body = {
        "name": name,
        "message": "Hola {{name}}",
        "contacts": [{"phone": phone(offset + i), "name": f"n{i}"} for i in range(count)],
    }
    created = client.post("/api/campaigns", json=body)
    created.raise_for_status()
    campaign_id = created.json()["id"]
    client.post(f"/api/campaigns/{campaign_id}/start").raise_for_status()
    return campaign_id


def progress(client: httpx.Client, campaign_id: str) -> dict:
    return client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]


def wait_done(client: httpx.Client, campaign_id: str, timeout_s: float) -> dict:
    def done() -> dict | None:
        status = progress(client, campaign_id)
        counts = status["progress"]
        return status if counts["total"] and counts["processed"] == counts["total"] else None

    return wait_until(done, timeout_s, f"campaign {campaign_id} done", every_s=0.1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def seed_campaign(env: dict[str, str], campaign_id: str, contacts: int) -> None:
    """A draft campaign and its audience, written as the api writes them."""
    redis = Redis.from_url(env["REDIS_URL"])
    try:
        store = CampaignStore(redis, Keys(env["REDIS_KEY_PREFIX"]))
        recipients = (Recipient(contact_id=f"c{i}", phone=phone(i)) for i in range(contacts))
        await store.append_audience(campaign_id, recipients)
        await store.save(
            CampaignRecord(
                id=campaign_id,
                owner_id="marketer",
                name=campaign_id,
                status="draft",
                content=TextContent(body="Hola"),
                total=contacts,
                created_at=datetime.now(UTC),
            )
        )
    finally:
        await redis.aclose()


async def commands_backlog(env: dict[str, str]) -> int:
    """Records of message.commands the sender group has not committed."""
    topic = f"{env['KAFKA_TOPIC_PREFIX']}message.commands"
    partitions = [TopicPartition(topic, p) for p in range(int(env["MESSAGE_COMMANDS_PARTITIONS"]))]
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    consumer = AIOKafkaConsumer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(f"{env['KAFKA_TOPIC_PREFIX']}sender")
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()
