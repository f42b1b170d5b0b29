"""Apache Kafka in KRaft mode, one node or a cluster of them, from Maven Central jars.

The jars are resolved by Maven from deploy/kafka/pom.xml into .cache/kafka/libs;
the broker's data and logs live under the run folder.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from devstack.paths import CACHE_DIR, REPO_ROOT
from devstack.processes import ProcessTable, StartError, Tracked, await_ready, is_running, port_open
from shared.topics import Replication

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
LIBS_DIR = CACHE_DIR / "kafka" / "libs"
STAMP = CACHE_DIR / "kafka" / "pom.sha256"
HEAP = ["-Xms256m", "-Xmx768m"]


@dataclass(frozen=True)
class KafkaPorts:
    broker: int
    controller: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker}"


def node_name(node_id: int, nodes: int) -> str:
    """The process (and run folder) of a node: `kafka` alone, `kafka-1`... in a cluster."""
    return "kafka" if nodes == 1 else f"kafka-{node_id}"


def cluster_bootstrap(cluster: list[KafkaPorts]) -> str:
    return ",".join(ports.bootstrap for ports in cluster)


def ensure_jars() -> Path:
    """Resolve the broker's classpath with Maven unless the pom is unchanged since last time."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if LIBS_DIR.is_dir() and STAMP.exists() and STAMP.read_text() == digest:
        return LIBS_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StartError("Maven (mvn) is not installed: it is needed to fetch the Kafka broker")
    shutil.rmtree(LIBS_DIR, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "package"], capture_output=True, text=True
    )
    if result.returncode != 0 or not any(LIBS_DIR.glob("kafka_2.13-*.jar")):
        raise StartError(
            f"Maven could not resolve the Kafka broker:\n{result.stdout}{result.stderr}"
        )
    STAMP.write_text(digest)
    return LIBS_DIR


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StartError("Java 17+ is not installed: the Kafka broker needs it")
    return java


def _server_properties(data_dir: Path, cluster: list[KafkaPorts], node_id: int) -> str:
    ports = cluster[node_id - 1]
    voters = ",".join(f"{i}@127.0.0.1:{p.controller}" for i, p in enumerate(cluster, start=1))
    # The same rule the services create their topics with (shared/topics.py).
    replication = Replication.for_brokers(len(cluster))
    copies, insync = replication.factor, replication.min_insync
    return "\n".join(
        [
            # Every node is both broker and controller: three make a quorum that
            # survives the loss of one.
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{ports.broker},CONTROLLER://127.0.0.1:{ports.controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{ports.broker}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=1",
            # The project creates its topics itself, with their partition counts.
            "auto.create.topics.enable=false",
            f"default.replication.factor={copies}",
            f"min.insync.replicas={insync}",
            "unclean.leader.election.enable=false",
            f"offsets.topic.replication.factor={copies}",
            "offsets.topic.num.partitions=10",
            f"transaction.state.log.replication.factor={copies}",
            f"transaction.state.log.min.isr={insync}",
            "transaction.state.log.num.partitions=4",
            f"share.coordinator.state.topic.replication.factor={copies}",
            f"share.coordinator.state.topic.min.isr={insync}",
            # Local brokers: no reason to delay the first rebalance.
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=24",
            "",
        ]
    )


def start_kafka(table: ProcessTable, ports: KafkaPorts, timeout_s: float = 90) -> Tracked:
    """One broker (its own controller): format its folder on first use, start it, wait
    until it answers metadata."""
    return start_kafka_cluster(table, [ports], timeout_s)[0]


def start_kafka_cluster(
    table: ProcessTable, cluster: list[KafkaPorts], timeout_s: float = 120
) -> list[Tracked]:
    """Nodes of one KRaft cluster (each broker and controller), started together: a
    node waits for a quorum of controllers before it serves. Folders already formatted
    keep their data; the others are formatted with the cluster's id."""
    started = [start_kafka_node(table, cluster, node_id) for node_id in range(1, len(cluster) + 1)]
    for tracked, ports in zip(started, cluster, strict=True):
        try:
            await_ready(
                tracked, lambda b=ports.bootstrap: kafka_answers(b), timeout_s, "Kafka broker"
            )
        except StartError as error:
            if len(started) == 1:
                raise
            # A node that waits for its quorum only says so; why the others are not
            # there is in their own logs.
            raise StartError(f"{error}\n{_errors_of(started)}") from None
    return started


def _errors_of(nodes: list[Tracked], per_node: int = 8) -> str:
    """The first error lines of each node's log."""
    report = []
    for node in nodes:
        try:
            lines = node.log.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [line for line in lines if " ERROR " in line or "Exception" in line]
        shown = "\n".join(errors[:per_node]) or "(no error lines)"
        report.append(f"{node.name} ({'running' if is_running(node) else 'exited'}):\n{shown}")
    return "\n".join(report)


def start_kafka_node(table: ProcessTable, cluster: list[KafkaPorts], node_id: int) -> Tracked:
    """Start one node of the cluster (again, after a stop) without waiting for it."""
    libs = ensure_jars()
    name = node_name(node_id, len(cluster))
    kafka_dir = table.run_dir / name
    data_dir = kafka_dir / "data"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    config = kafka_dir / "server.properties"
    config.write_text(_server_properties(data_dir, cluster, node_id))
    jvm = [
        _java(),
        *HEAP,
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={kafka_dir}",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
    ]
    if not (data_dir / "meta.properties").exists():
        formatted = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format",
             f"--cluster-id={_cluster_id(table)}", "-c", str(config)],
            capture_output=True, text=True,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise StartError(f"cannot format Kafka storage:\n{formatted.stdout}{formatted.stderr}")
    return table.start(name, [*jvm, "kafka.Kafka", str(config)], env=_java_env())


def _cluster_id(table: ProcessTable) -> str:
    """The run folder's cluster id: every node of a cluster is formatted with the same."""
    path = table.run_dir / "kafka-cluster-id"
    if not path.exists():
        # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
    return path.read_text().strip()


def _java_env() -> dict[str, str]:
    # The broker's own scripts read KAFKA_* variables; ours must not leak into it.
    return {key: value for key, value in os.environ.items() if not key.startswith("KAFKA_")}


def kafka_answers(bootstrap: str) -> bool:
    """True when the port accepts and the broker answers a real metadata request."""
    host, _, port = bootstrap.partition(",")[0].rpartition(":")
    if not port_open(host, int(port)):
        return False
    return asyncio.run(_describe_cluster(bootstrap))


async def _describe_cluster(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


@dataclass(frozen=True)
class BrokerReplicas:
    """One broker's share of the partitions, as the cluster's metadata reports it."""

    node_id: int
    address: str
    leads: int
    replicas: int
    in_sync: int


async def replica_report(bootstrap: str) -> tuple[list[BrokerReplicas], int, int]:
    """Each broker's partitions (led, hosted, in sync), the partitions whose in-sync
    set is smaller than their replica set, and the partitions in all."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), 10)
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.list_topics()
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    brokers = {b["node_id"]: f"{b['host']}:{b['port']}" for b in cluster["brokers"]}
    leads = dict.fromkeys(brokers, 0)
    hosted = dict.fromkeys(brokers, 0)
    in_sync = dict.fromkeys(brokers, 0)
    under_replicated = total = 0
    for topic in described:
        for partition in topic.get("partitions", []):
            total += 1
            replicas, isr = partition["replicas"], partition["isr"]
            under_replicated += len(isr) < len(replicas)
            if partition["leader"] in leads:
                leads[partition["leader"]] += 1
            for node in replicas:
                hosted[node] = hosted.get(node, 0) + 1
            for node in isr:
                in_sync[node] = in_sync.get(node, 0) + 1
    report = [
        BrokerReplicas(node, brokers.get(node, "not answering"), leads.get(node, 0),
                       hosted[node], in_sync.get(node, 0))
        for node in sorted(hosted.keys() | brokers.keys())
    ]  # fmt: skip
    return report, under_replicated, total
