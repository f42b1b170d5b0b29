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
from urllib.parse import urlsplit

import asyncpg
import httpx
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from devstack.processes import ProcessTable
from devstack.system import API_TOKENS, System
from shared.events.models import Recipient, TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.recipients import RecipientStore

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
        self.reset_sandbox()
        try:
            system.start_all()
            yield system
        finally:
            system.stop_all()

    def reset_sandbox(self) -> None:
        """No faults and an empty ledger: the sandbox keeps every accepted message in
        memory, and one scenario's tens of thousands would weigh on the next's."""
        self.sandbox.delete("/_sandbox/faults").raise_for_status()
        self.sandbox.delete("/_sandbox/ledger").raise_for_status()

    def infrastructure_pids(self) -> dict[str, int]:
        """The sandbox's, Kafka's, Redis's and PostgreSQL's processes, found by the ports
        they listen on (so also when `make test` started them): their CPU is reported
        apart from ours."""
        ports = {
            "twilio_sandbox": urlsplit(self.stack["TWILIO_API_BASE_URL"]).port,
            "kafka": int(self.stack["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rsplit(":", 1)[1]),
            "redis": urlsplit(self.stack["REDIS_URL"]).port or 6379,
            "postgres": urlsplit(self.stack["DATABASE_URL"]).port or 5432,
        }
        found = {name: listener_pid(port) for name, port in ports.items() if port}
        return {name: pid for name, pid in found.items() if pid is not None}

    def redis_command_calls(self) -> dict[str, int]:
        """Commands Redis has run since it started, by name (INFO commandstats): a
        script's own calls are counted under their names, besides the EVALSHA."""
        client = redis.Redis.from_url(self.stack["REDIS_URL"])
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    def redis_used_memory(self) -> int:
        """Bytes Redis holds for data and its overhead (INFO memory: used_memory)."""
        client = redis.Redis.from_url(self.stack["REDIS_URL"])
        try:
            return int(client.info("memory")["used_memory"])
        finally:
            client.close()

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
        account = status["account"]
        return status if account["total"] and account["waiting"] == 0 else None

    return wait_until(done, timeout_s, f"campaign {campaign_id} done", every_s=0.1)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant: the api may serve from worker processes."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and its descendants, the ended ones included (a
    reaped child's time is in its parent's cutime and cstime), so that two readings'
    difference is what the whole tree spent between them."""
    ticks = 0
    for member in process_tree(pid):
        if fields := _stat_fields(member):
            ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per_message(cpu_s: dict[str, float], ours: set[str], messages: int) -> dict:
    """CPU seconds of a run's processes as milliseconds per message (which is also CPU
    seconds per 1,000 messages): each of ours, the senders summed, all of ours summed;
    the infrastructure's apart."""

    def per_message(seconds: float) -> float:
        return round(seconds * 1000 / messages, 3)

    own = {name: per_message(cpu_s[name]) for name in sorted(ours)}
    own["senders"] = per_message(sum(v for k, v in cpu_s.items() if k.startswith("sender")))
    own["ours"] = per_message(sum(cpu_s[name] for name in ours))
    infrastructure = {name: per_message(v) for name, v in sorted(cpu_s.items()) if name not in ours}
    return {"cpu_ms_per_message": own, "infrastructure_cpu_ms_per_message": infrastructure}


def rss_mb(pid: int) -> float:
    """The largest resident set among ``pid`` and its descendants, in MB."""
    largest = 0.0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]) / 1024)
    return largest


def listener_pid(port: int) -> int | None:
    """The process listening on a local TCP port (the eldest, when several share the
    socket), or None when no process of this machine that we may inspect holds it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            columns = row.split()
            if columns[3] == "0A" and int(columns[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{columns[9]}]")
    if not inodes:
        return None
    holders = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                holders.add(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    eldest = [
        pid for pid in holders if (fields := _stat_fields(pid)) and int(fields[1]) not in holders
    ]
    return min(eldest) if eldest else None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def seed_campaign(env: dict[str, str], campaign_id: str, contacts: int) -> None:
    """A draft campaign and its audience, written as the api writes them."""
    redis = Redis.from_url(env["REDIS_URL"])
    database = await asyncpg.create_pool(env["DATABASE_URL"], min_size=1, max_size=1)
    try:
        store = CampaignStore(database, redis, Keys(env["REDIS_KEY_PREFIX"]))
        recipients = (Recipient(contact_id=f"c{i}", phone=phone(i)) for i in range(contacts))
        await RecipientStore(database).freeze(campaign_id, recipients)
        await store.create(
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
        await database.close()


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
