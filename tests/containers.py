"""Kafka, Redis and PostgreSQL in containers, for laptops with a Docker engine
(CQ_TEST_CONTAINERS=1).

The Twilio sandbox still runs as a local process: it is part of this project.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def container_stack() -> Iterator[object]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    from devstack.processes import ProcessTable
    from devstack.stack import bring_up_infrastructure, stop_all
    from tests.conftest import StackEndpoints

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        RedisContainer("redis:7-alpine") as redis,
        PostgresContainer("postgres:16-alpine", driver=None) as postgres,
    ):
        redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        table = ProcessTable(Path(tempfile.mkdtemp(prefix="cq-sandbox-")))
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "REDIS_URL": redis_url,
            "DATABASE_URL": postgres.get_connection_url(),
        }
        try:
            values = bring_up_infrastructure(table, environment, fixed_ports=True).values
            os.environ["SANDBOX_URL"] = values["TWILIO_API_BASE_URL"]
            yield StackEndpoints(
                values["KAFKA_BOOTSTRAP_SERVERS"],
                values["REDIS_URL"],
                os.environ["SANDBOX_URL"],
                values["DATABASE_URL"],
            )
        finally:
            stop_all(table)
