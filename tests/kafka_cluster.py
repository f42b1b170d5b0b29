"""A three-node KRaft cluster for the tests that lose, restart or count brokers.

One per test module (the ``kafka_cluster`` fixture in tests/conftest.py): its nodes
listen on free ports, come from the same jars as the single broker, and are stopped
with the module.
"""

from __future__ import annotations

import asyncio
from collections import Counter

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
from shared.settings import Settings
from shared.topics import Replication
from tests.helpers import eventually_sync, free_port

NODES = 3


class KafkaCluster:
    def __init__(self, table: ProcessTable) -> None:
        self.table = table
        self.nodes = [KafkaPorts(free_port(), free_port()) for _ in range(NODES)]

    def start(self) -> None:
        start_kafka_cluster(self.table, self.nodes)

    def discard(self) -> None:
        """End every node at once, without a grace period (SIGKILL straight after the
        SIGTERM). The cluster's data goes with the module, so a controlled shutdown buys
        nothing, and it cost up to its 30 s timeout after the frozen-broker row."""
        self.table.stop_together([t.name for t in self.table.tracked()], timeout_s=0)

    @property
    def bootstrap(self) -> str:
        return cluster_bootstrap(self.nodes)

    def bootstrap_without(self, node_id: int) -> str:
        return cluster_bootstrap([p for i, p in enumerate(self.nodes, start=1) if i != node_id])

    @property
    def settings(self) -> dict[str, object]:
        """The settings a service or a system needs to use this cluster."""
        replication = Replication.for_brokers(NODES)
        return {
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_replication_factor": replication.factor,
            "kafka_min_insync_replicas": replication.min_insync,
        }

    def service_settings(self, prefix: str) -> Settings:
        return Settings(kafka_topic_prefix=prefix, **self.settings)  # type: ignore[arg-type]

    def pid(self, node_id: int) -> int:
        tracked = self.table.get(node_name(node_id, NODES))
        assert tracked is not None and is_running(tracked), f"node {node_id} is not running"
        return tracked.pid

    def leaders(self, topic: str) -> list[int]:
        """The leader of each of the topic's partitions."""
        return asyncio.run(_leaders(self.bootstrap, topic))

    def leading_most(self, topic: str) -> int:
        """The node that leads most of the topic's partitions."""
        return Counter(self.leaders(topic)).most_common(1)[0][0]

    def restart(self, node_id: int) -> None:
        tracked = start_kafka_node(self.table, self.nodes, node_id)
        await_ready(tracked, lambda: True, 5, f"Kafka node {node_id}")

    async def all_in_sync(self, *, with_partitions: bool = False) -> bool:
        """Every broker up and no partition with fewer in-sync copies than its replicas
        (``with_partitions``: and some partitions listed, where topics must exist)."""
        try:
            brokers, under_replicated, total = await replica_report(self.bootstrap)
        except Exception:  # a broker still starting may refuse the admin client
            return False
        listed = total > 0 or not with_partitions
        return len(brokers) == NODES and listed and under_replicated == 0

    def wait_in_sync(self, timeout_s: float = 120) -> None:
        eventually_sync(
            lambda: asyncio.run(self.all_in_sync()),
            timeout_s=timeout_s,
            what=f"every partition in sync on {NODES}",
        )


async def _leaders(bootstrap: str, topic: str) -> list[int]:
    # Short timeouts: a broker that stopped answering keeps its sockets open.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await asyncio.wait_for(admin.start(), 5)
    try:
        (described,) = await asyncio.wait_for(admin.describe_topics([topic]), 5)
    finally:
        await admin.close()
    return [partition["leader"] for partition in described["partitions"]]
