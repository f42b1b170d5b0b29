"""Kafka clients configured the one way the system uses them, and topic set-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from shared.events import Event, encode
from shared.renewing_producer import RenewingProducer
from shared.settings import Settings
from shared.topics import TopicSpec, topic_specs

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
# Records keep their topic's defaults except where a topic spec says otherwise.
_COMPACTED = {"cleanup.policy": "compact"}


def topic_configs(spec: TopicSpec) -> dict[str, str]:
    """The configs a topic is created with: the production overlay's KafkaTopics are
    tested against these."""
    configs = spec.replication.topic_configs()
    if spec.compacted:
        configs.update(_COMPACTED)
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    return configs


class TopicSetupError(RuntimeError):
    """A topic could not be created or does not have the partitions it needs."""


def make_producer(settings: Settings, **overrides: Any) -> RenewingProducer:
    """An idempotent producer that waits for every in-sync replica, and replaces
    itself when a broker stops taking its sequence numbers (shared/renewing_producer.py).

    A record acknowledged by it is durable: the API answers a start request
    only after its event is acknowledged.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return RenewingProducer(lambda: AIOKafkaProducer(**options))


def make_consumer(
    settings: Settings, *topics: str, group_id: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A group consumer that commits by hand, after its results are written."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)


async def ensure_topics(
    settings: Settings, specs: Iterable[TopicSpec] | None = None, *, timeout_s: float = 30
) -> None:
    """Create the system's topics if missing; safe to call from every service at start-up.

    An existing topic with fewer partitions than configured is an error: keys
    would map to other partitions than the producers expect.
    """
    wanted = list(specs) if specs is not None else topic_specs(settings)
    admin = make_admin(settings)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    spec.partitions,
                    spec.replication.factor,
                    topic_configs=topic_configs(spec),
                )
                for spec in wanted
            ],
            timeout_ms=int(timeout_s * 1000),
        )
        for topic, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise TopicSetupError(f"cannot create topic {topic}: {message} (error {code})")
        partition_counts = await _visible_partition_counts(admin, wanted, timeout_s)
        for spec in wanted:
            partitions = partition_counts[spec.name]
            if partitions < spec.partitions:
                raise TopicSetupError(
                    f"topic {spec.name} has {partitions} partitions, {spec.partitions} configured"
                )
    finally:
        await admin.close()
    log.info("topics ready", extra={"topics": [s.name for s in wanted]})


async def _visible_partition_counts(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], timeout_s: float
) -> dict[str, int]:
    """Partition counts once every topic shows up in metadata.

    A topic just created is briefly unknown to the metadata the broker serves.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics([spec.name for spec in specs])
        counts = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
        if all(counts.get(spec.name) for spec in specs):
            return counts
        if asyncio.get_running_loop().time() >= deadline:
            missing = [spec.name for spec in specs if not counts.get(spec.name)]
            raise TopicSetupError(f"topics not visible after {timeout_s} s: {missing}")
        await asyncio.sleep(0.1)


async def send_events(
    producer: RenewingProducer,
    topic: str,
    keyed_events: Iterable[tuple[bytes, Event]],
    *,
    source: str,
) -> None:
    """Send every event, then wait until Kafka has acknowledged them all.

    Sending all before awaiting lets the producer batch them; awaiting one by one
    would pay a round trip per record.
    """
    deliveries = []
    for key, event in keyed_events:
        value, headers = encode(event, source=source)
        deliveries.append(await producer.send(topic, value, key=key, headers=headers))
    await asyncio.gather(*deliveries)


async def kafka_reachable(producer: RenewingProducer, timeout_s: float = 2.0) -> bool:
    """True when the cluster answers a metadata request within the timeout."""
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
    except (TimeoutError, KafkaError, OSError):
        return False
    return True
