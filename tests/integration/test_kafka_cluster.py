"""A three-node KRaft cluster from the same jars: topics replicated three times with two
in sync, and writes acknowledged by acks=all survive the loss of the broker that led them."""

from __future__ import annotations

import os
import signal

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from devstack.kafka import node_name, start_kafka_node
from devstack.processes import is_running
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.settings import Settings
from shared.topics import Replication, TopicSpec
from tests.helpers import eventually
from tests.kafka_cluster import NODES


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


async def test_topics_are_replicated_three_times_with_two_in_sync(kafka_cluster) -> None:
    settings = kafka_cluster.service_settings("layout-")
    await ensure_topics(settings)
    commands = f"{settings.kafka_topic_prefix}message.commands"
    partitions, configs = await _topic_layout(settings.kafka_bootstrap_servers, commands)
    assert len(partitions) == settings.message_commands_partitions
    assert {len(p["replicas"]) for p in partitions} == {3}
    assert configs["min.insync.replicas"] == "2"
    assert configs["unclean.leader.election.enable"] == "false"
    # Leadership is spread: every broker leads some of the partitions.
    assert {p["leader"] for p in partitions} == {1, 2, 3}


async def test_acknowledged_writes_survive_the_leader_killed(kafka_cluster) -> None:
    table, nodes = kafka_cluster.table, kafka_cluster.nodes
    settings = kafka_cluster.service_settings("failover-")
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

    survivors = kafka_cluster.bootstrap_without(leader)
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
        return await kafka_cluster.all_in_sync(with_partitions=True)

    await eventually(all_in_sync, timeout_s=90, what="every partition back in sync")
