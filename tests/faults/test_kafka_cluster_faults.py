"""A three-broker Kafka cluster losing, restarting or freezing brokers under a running
campaign: topics have three copies of which two must hold a record, producers are
idempotent with acks=all, and unclean leader election is off, so no acknowledged event
is lost and the senders' ledger keeps every contact to one message."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.kafka import (
    KafkaPorts,
    cluster_bootstrap,
    node_name,
    replica_report,
    start_kafka_cluster,
    start_kafka_node,
)
from devstack.processes import ProcessTable, await_ready, is_running
from devstack.stack import stop_all
from devstack.system import System
from shared.topics import Replication
from tests.faults.harness import PACED, VALID, FaultRun
from tests.helpers import eventually_sync, free_port

NODES = 3


class Cluster:
    def __init__(self, table: ProcessTable, nodes: list[KafkaPorts]) -> None:
        self.table = table
        self.nodes = nodes

    @property
    def bootstrap(self) -> str:
        return cluster_bootstrap(self.nodes)

    @property
    def settings(self) -> dict[str, object]:
        replication = Replication.for_brokers(NODES)
        return {
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_replication_factor": replication.factor,
            "kafka_min_insync_replicas": replication.min_insync,
        }

    def pid(self, node_id: int) -> int:
        tracked = self.table.get(node_name(node_id, NODES))
        assert tracked is not None and is_running(tracked), f"node {node_id} is not running"
        return tracked.pid

    def leaders(self, topic: str, *, without: int | None = None) -> list[int]:
        """The leader of each of the topic's partitions, asking the nodes but ``without``."""
        asked = [p for i, p in enumerate(self.nodes, start=1) if i != without]
        return asyncio.run(_leaders(cluster_bootstrap(asked), topic))

    def leading_most(self, topic: str) -> int:
        """The node that leads most of the topic's partitions."""
        return Counter(self.leaders(topic)).most_common(1)[0][0]

    def restart(self, node_id: int) -> None:
        tracked = start_kafka_node(self.table, self.nodes, node_id)
        await_ready(tracked, lambda: True, 5, f"Kafka node {node_id}")

    def wait_in_sync(self, timeout_s: float = 120) -> None:
        def in_sync() -> bool:
            try:
                brokers, under_replicated, _ = asyncio.run(replica_report(self.bootstrap))
            except Exception:  # a broker still starting may refuse the admin client
                return False
            return len(brokers) == NODES and under_replicated == 0

        eventually_sync(in_sync, timeout_s=timeout_s, what="every partition in sync on 3")


async def _leaders(bootstrap: str, topic: str) -> list[int]:
    # Short timeouts: a frozen broker keeps its sockets open and never answers.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await asyncio.wait_for(admin.start(), 5)
    try:
        (described,) = await asyncio.wait_for(admin.describe_topics([topic]), 5)
    finally:
        await admin.close()
    return [partition["leader"] for partition in described["partitions"]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    table = ProcessTable(Path(tmp_path_factory.mktemp("kafka-cluster-faults")))
    nodes = [KafkaPorts(free_port(), free_port()) for _ in range(NODES)]
    try:
        start_kafka_cluster(table, nodes)
        yield Cluster(table, nodes)
    finally:
        stop_all(table)


def _campaign(cluster: Cluster, make_system, sandbox_admin, name: str) -> tuple[System, FaultRun]:
    cluster.wait_in_sync()
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **cluster.settings, **PACED)
    return system, FaultRun(system, sandbox_admin, name)


def _commands_topic(system: System) -> str:
    return f"{system.env.get('KAFKA_TOPIC_PREFIX', '')}message.commands"


def test_the_broker_leading_most_commands_killed(cluster, make_system, sandbox_admin, fault_table):
    system, run = _campaign(cluster, make_system, sandbox_admin, "leader killed")
    run.wait_sent(VALID // 4)
    victim = cluster.leading_most(_commands_topic(system))
    os.kill(cluster.pid(victim), signal.SIGKILL)
    outcome = run.finish()
    fault_table.record(
        "3 Kafka brokers: `kill -9` of the one leading most message.commands partitions",
        "the controllers moved its partitions' leadership to the two in-sync followers; "
        "producers (idempotent, acks=all) and consumer groups followed the new leaders; "
        "nothing acknowledged was lost",
        outcome,
    )
    cluster.restart(victim)
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_a_rolling_restart_of_the_three_brokers(cluster, make_system, sandbox_admin, fault_table):
    _, run = _campaign(cluster, make_system, sandbox_admin, "rolling restart")
    run.wait_sent(VALID // 8)
    for node_id in range(1, NODES + 1):
        cluster.table.stop(node_name(node_id, NODES))  # SIGTERM: a controlled shutdown
        cluster.restart(node_id)
        cluster.wait_in_sync()  # back in sync before the next one goes
    outcome = run.finish()
    fault_table.record(
        "3 Kafka brokers restarted one at a time, each back in sync before the next",
        "each broker handed its leaderships over before stopping and caught up after; "
        "writes went on with two copies in sync",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)
