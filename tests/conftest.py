"""Session fixtures bound to the Kafka, Redis and sandbox that `make test` started.

Without them in the environment (a bare `pytest`), the session starts its own
local ones, or containers where a Docker engine answers and CQ_TEST_CONTAINERS=1.
Each test gets its own topic prefix and Redis key prefix, so tests never see
each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from pydantic_core import to_json
from redis.asyncio import Redis

from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings

if TYPE_CHECKING:
    from tests.kafka_cluster import KafkaCluster


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    redis_url: str
    sandbox_url: str


def _from_environment() -> StackEndpoints | None:
    kafka, redis, sandbox = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        os.environ.get("REDIS_URL"),
        os.environ.get("SANDBOX_URL"),
    )
    return StackEndpoints(kafka, redis, sandbox) if kafka and redis and sandbox else None


@pytest.fixture(scope="session")
def stack() -> Iterator[StackEndpoints]:
    given = _from_environment()
    if given is not None:
        yield given
        return
    if os.environ.get("CQ_TEST_CONTAINERS") == "1":
        from tests.containers import container_stack

        with container_stack() as endpoints:
            yield endpoints
        return
    # A bare `pytest`: start our own local processes, as `make test` does.
    from devstack.processes import ProcessTable
    from devstack.stack import bring_up_infrastructure, stop_all

    run_dir = Path(tempfile.mkdtemp(prefix="cq-tests-"))
    table = ProcessTable(run_dir)
    try:
        values = bring_up_infrastructure(table, {}, fixed_ports=False).values
        os.environ["SANDBOX_URL"] = values["TWILIO_API_BASE_URL"]
        os.environ.setdefault("SANDBOX_ACCOUNT_SID", SANDBOX_ACCOUNT_SID)
        os.environ.setdefault("SANDBOX_AUTH_TOKEN", SANDBOX_AUTH_TOKEN)
        yield StackEndpoints(
            values["KAFKA_BOOTSTRAP_SERVERS"], values["REDIS_URL"], values["TWILIO_API_BASE_URL"]
        )
    finally:
        stop_all(table)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def unique_prefix() -> str:
    """A fresh prefix for this test's topics, consumer groups and Redis keys."""
    return f"t{uuid.uuid4().hex[:10]}."


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(stack: StackEndpoints, unique_prefix: str) -> SettingsFactory:
    """Settings for this test: the session's stack, this test's prefixes, any overrides."""

    def build(model: type[Settings] = Settings, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "kafka_bootstrap_servers": stack.kafka_bootstrap,
            "redis_url": stack.redis_url,
            "kafka_topic_prefix": unique_prefix,
            "redis_key_prefix": unique_prefix,
            "twilio_api_base_url": stack.sandbox_url,
            # Small topics keep per-test set-up fast; tests of the layout override these.
            "message_commands_partitions": 4,
            "message_results_partitions": 2,
            "campaign_events_partitions": 2,
        }
        if "api_metrics_port" in model.model_fields:
            # A port of its own: tests run beside each other and beside `make up`.
            values["api_metrics_port"] = 0
        values.update(overrides)
        return model(**values)

    return build


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in a service process."""
    env = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list | dict):  # complex settings are JSON in the environment
            env[name.upper()] = to_json(value).decode()
            continue
        env[name.upper()] = str(value)
    return env


@pytest_asyncio.fixture
async def redis(stack: StackEndpoints, unique_prefix: str) -> AsyncIterator[Redis]:
    """A Redis client; every key under this test's prefix is deleted afterwards."""
    client = Redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{unique_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three Kafka nodes of their own for one test module (see tests/kafka_cluster.py)."""
    from devstack.processes import ProcessTable
    from devstack.stack import stop_all
    from tests.kafka_cluster import KafkaCluster

    cluster = KafkaCluster(ProcessTable(Path(tmp_path_factory.mktemp("kafka-cluster"))))
    try:
        cluster.start()
        yield cluster
    finally:
        stop_all(cluster.table)
