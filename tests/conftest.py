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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
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
    database_url: str


def _from_environment() -> StackEndpoints | None:
    kafka, redis, sandbox, database = (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        os.environ.get("REDIS_URL"),
        os.environ.get("SANDBOX_URL"),
        os.environ.get("DATABASE_URL"),
    )
    if kafka and redis and sandbox and database:
        return StackEndpoints(kafka, redis, sandbox, database)
    return None


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
    from devstack.postgres import forget_data
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
            values["KAFKA_BOOTSTRAP_SERVERS"],
            values["REDIS_URL"],
            values["TWILIO_API_BASE_URL"],
            values["DATABASE_URL"],
        )
    finally:
        stop_all(table)
        forget_data(table)
        shutil.rmtree(run_dir, ignore_errors=True)


def _admin(database_url: str, statement: str) -> None:
    """One statement on the stack's own database, from a thread of its own: a sync
    fixture may run while pytest-asyncio's loop is set in this one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, run()).result()


def _on_database(database_url: str, name: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def database_template(stack: StackEndpoints) -> Iterator[str]:
    """A migrated database that nothing connects to, so that each test's database can be
    a copy of it (CREATE DATABASE ... TEMPLATE refuses a template in use)."""
    from shared.database.migrate import migrate

    name = f"cq_template_{uuid.uuid4().hex[:8]}"
    _admin(stack.database_url, f'CREATE DATABASE "{name}"')
    migrate(_on_database(stack.database_url, name))
    try:
        yield name
    finally:
        _admin(stack.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(
    stack: StackEndpoints, prefix: str, template: str | None = None
) -> Iterator[str]:
    """A new database (empty, or a copy of ``template``), dropped afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    _admin(stack.database_url, f'CREATE DATABASE "{name}"{copy_of}')
    try:
        yield _on_database(stack.database_url, name)
    finally:
        _admin(stack.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(stack: StackEndpoints, database_template: str) -> Iterator[str]:
    """A database of this test's own, at the newest schema."""
    with scratch_database(stack, "t_", database_template) as url:
        yield url


@pytest.fixture
def unique_prefix() -> str:
    """A fresh prefix for this test's topics, consumer groups and Redis keys."""
    return f"t{uuid.uuid4().hex[:10]}."


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(stack: StackEndpoints, unique_prefix: str, database_url: str) -> SettingsFactory:
    """Settings for this test: the session's stack, this test's prefixes, any overrides."""

    def build(model: type[Settings] = Settings, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "kafka_bootstrap_servers": stack.kafka_bootstrap,
            "redis_url": stack.redis_url,
            "database_url": database_url,
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
    from devstack.processes import ProcessTable, StartError
    from tests.kafka_cluster import KafkaCluster

    # A second try, on fresh ports and folders, when the first start fails: on a busy
    # 2-core machine one start in a few dozen runs had a node silent for the whole
    # 120 s. What the tests check begins once the cluster serves; a cluster that cannot
    # start twice running still fails here.
    for attempt in (1, 2):
        cluster = KafkaCluster(ProcessTable(Path(tmp_path_factory.mktemp("kafka-cluster"))))
        try:
            cluster.start()
            break
        except StartError:
            cluster.discard()
            if attempt == 2:
                raise
    try:
        yield cluster
    finally:
        cluster.discard()


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on this test's own database."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed system test carries its services' warnings and last lines (see
    tests/service_logs.py): CI keeps nothing else of a run."""
    report = yield
    builder = getattr(item, "funcargs", {}).get("make_system")
    if report.failed and call.when == "call" and builder is not None:
        from tests.service_logs import excerpt

        for number, system in enumerate(getattr(builder, "systems", [])):
            report.sections.append(
                (f"service logs, system {number}", excerpt(system.table.log_dir))
            )
    return report
