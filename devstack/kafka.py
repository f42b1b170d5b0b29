"""A single-node Apache Kafka broker in KRaft mode, from Maven Central jars.

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
from devstack.processes import ProcessTable, StartError, Tracked, await_ready, port_open

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


def _server_properties(data_dir: Path, ports: KafkaPorts) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{ports.controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{ports.broker},CONTROLLER://127.0.0.1:{ports.controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{ports.broker}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=1",
            # The project creates its topics itself, with their partition counts.
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # A single local broker: no reason to delay the first rebalance.
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=24",
            "",
        ]
    )


def start_kafka(table: ProcessTable, ports: KafkaPorts, timeout_s: float = 90) -> Tracked:
    """Format the data folder on first use, start the broker, wait until it answers metadata."""
    libs = ensure_jars()
    kafka_dir = table.run_dir / "kafka"
    data_dir = kafka_dir / "data"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    config = kafka_dir / "server.properties"
    config.write_text(_server_properties(data_dir, ports))
    classpath = f"{libs}/*"
    java = _java()
    jvm = [
        java,
        *HEAP,
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={kafka_dir}",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        classpath,
    ]
    if not (data_dir / "meta.properties").exists():
        formatted = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format",
             f"--cluster-id={_cluster_id()}", "-c", str(config)],
            capture_output=True, text=True,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise StartError(f"cannot format Kafka storage:\n{formatted.stdout}{formatted.stderr}")
    tracked = table.start("kafka", [*jvm, "kafka.Kafka", str(config)], env=_java_env())
    await_ready(tracked, lambda: kafka_answers(ports.bootstrap), timeout_s, "Kafka broker")
    return tracked


def _cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


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
