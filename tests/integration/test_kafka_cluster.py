"""A three-node KRaft cluster from the same jars: topics replicated three times with two
in sync, and writes acknowledged by acks=all survive the loss of the broker that led them."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from devstack.kafka import (
    KafkaPorts,
    cluster_bootstrap,
    node_name,
    replica_report,
    start_kafka_cluster,
    start_kafka_node,
)
from devstack.processes import ProcessTable, is_running
from devstack.stack import stop_all
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.settings import Settings
from shared.topics import Replication, TopicSpec
from tests.helpers import eventually, free_port

NODES = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessTable, list]]:
    table = ProcessTable(Path(tmp_path_factory.mktemp("kafka-cluster")))
    nodes = [KafkaPorts(free_port(), free_port()) for _ in range(NODES)]
    try:
        start_kafka_cluster(table, nodes)
        yield table, nodes
    finally:
        stop_all(table)


def _settings(nodes: list[KafkaPorts], prefix: str) -> Settings:
    replication = Replication.for_brokers(len(nodes))
    return Settings(
        kafka_bootstrap_servers=cluster_bootstrap(nodes),
        kafka_topic_prefix=prefix,
        kafka_replication_factor=replication.factor,
        kafka_min_insync_replicas=replication.min_insync,
    )


async def _topic_layout(bootstrap: str, topic: str) -> tuple[list[dict], dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def described_with_partitions() -> dict | None:
            # A topic just created reaches each broker's metadata a moment later.
            (found,) = await admin.describe_topics([topic])
            return found if found["partitions"] else None

        described = await eventually(
            described_with_partitions, timeout_s=30, what=f"{topic}'s partitions"
        )
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    entries = response.resources[0][4]
    return described["partitions"], {entry[0]: entry[1] for entry in entries}


def test_more_in_sync_replicas_than_copies_is_refused() -> None:
    with pytest.raises(ValidationError, match="KAFKA_REPLICATION_FACTOR"):
        Settings(kafka_replication_factor=1, kafka_min_insync_replicas=2)


async def test_topics_are_replicated_three_times_with_two_in_sync(cluster) -> None:
    _, nodes = cluster
    settings = _settings(nodes, "layout-")
    await ensure_topics(settings)
    commands = f"{settings.kafka_topic_prefix}message.commands"
    partitions, configs = await _topic_layout(settings.kafka_bootstrap_servers, commands)
    assert len(partitions) == settings.message_commands_partitions
    assert {len(p["replicas"]) for p in partitions} == {3}
    assert configs["min.insync.replicas"] == "2"
    assert configs["unclean.leader.election.enable"] == "false"
    # Leadership is spread: every broker leads some of the partitions.
    assert {p["leader"] for p in partitions} == {1, 2, 3}


async def test_acknowledged_writes_survive_the_leader_killed(cluster) -> None:
    table, nodes = cluster
    settings = _settings(nodes, "failover-")
    topic = f"{settings.kafka_topic_prefix}ledger-like"
    await ensure_topics(settings, [TopicSpec(topic, 1, replication=Replication(3, 2))])
    partitions, _ = await _topic_layout(settings.kafka_bootstrap_servers, topic)
    leader = partitions[0]["leader"]
    producer = make_producer(settings)
    await producer.start()
    try:
        for number in range(100):
            await producer.send_and_wait(topic, f"before-{number}".encode())
        # The broker that led the partition dies without a word.
        leader_process = table.get(node_name(leader, NODES))
        assert leader_process is not None
        os.kill(leader_process.pid, signal.SIGKILL)

        async def gone() -> bool:
            return not is_running(leader_process)

        await eventually(gone, timeout_s=10, what="the leader gone")
        # Two replicas are left, as many as min.insync.replicas: writes go on.
        for number in range(100):
            await producer.send_and_wait(topic, f"after-{number}".encode())
    finally:
        await producer.stop()

    survivors = ",".join(p.bootstrap for i, p in enumerate(nodes, 1) if i != leader)
    consumer = make_consumer(
        settings.model_copy(update={"kafka_bootstrap_servers": survivors}),
        topic,
        group_id=f"{settings.kafka_topic_prefix}reader",
    )
    await consumer.start()
    values: list[bytes] = []
    try:

        async def read_all() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            values.extend(r.value for records in batches.values() for r in records)
            return len(values) >= 200

        await eventually(read_all, timeout_s=30, what="200 records")
    finally:
        await consumer.stop()
    expected = [f"before-{n}".encode() for n in range(100)]
    expected += [f"after-{n}".encode() for n in range(100)]
    assert values == expected  # nothing lost, nothing twice, in order

    # The node comes back and catches up: every partition in sync on three again.
    start_kafka_node(table, nodes, leader)

    async def all_in_sync() -> bool:
        _, under_replicated, total = await replica_report(cluster_bootstrap(nodes))
        return total > 0 and under_replicated == 0

    await eventually(all_in_sync, timeout_s=90, what="every partition back in sync")
