"""Kafka, Redis and PostgreSQL restarted under a running campaign, on a broker, a Redis
and a PostgreSQL of this module's own (the session's are shared by every other test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.kafka import KafkaPorts, start_kafka
from devstack.postgres import forget_data, start_postgres
from devstack.processes import ProcessTable, http_json
from devstack.redis import start_redis
from devstack.stack import base_environment, migrate_database, stop_all
from devstack.system import System
from tests.faults.harness import PACED, VALID, FaultRun
from tests.helpers import eventually_sync, free_port


@dataclass
class PrivateStack:
    table: ProcessTable
    kafka: KafkaPorts
    redis_port: int
    postgres_port: int
    database_url: str = ""

    @property
    def settings(self) -> dict[str, str]:
        return {
            "kafka_bootstrap_servers": self.kafka.bootstrap,
            "redis_url": f"redis://127.0.0.1:{self.redis_port}/0",
            "database_url": self.database_url,
        }

    def stop(self, name: str) -> None:
        self.table.stop(name)

    def start_kafka(self) -> None:
        start_kafka(self.table, self.kafka)

    def start_redis(self) -> None:
        start_redis(self.table, self.redis_port, durable=True)

    def start_postgres(self) -> None:
        self.database_url = start_postgres(self.table, self.postgres_port, durable=True)


def _wait_reported_down(
    system: System, dependency: str, users: tuple[str, ...] | None = None
) -> dict[str, object]:
    """The /health of every service (or of ``users``, the services that use the
    dependency), once each answers 503 naming the dependency down."""

    def reports() -> dict[str, object] | None:
        found = {}
        for name, url in system.health_urls.items():
            if users is not None and not name.startswith(users):
                continue
            code, body = http_json(url)
            if code != 503 or not isinstance(body, dict) or body.get(dependency) is not False:
                return None
            found[name] = body
        return found

    return eventually_sync(reports, timeout_s=60, what=f"every service reporting {dependency} down")


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    table = ProcessTable(Path(tmp_path_factory.mktemp("infrastructure")))
    try:
        stack = PrivateStack(table, KafkaPorts(free_port(), free_port()), free_port(), free_port())
        start_kafka(table, stack.kafka)
        start_redis(table, stack.redis_port, durable=True)
        stack.start_postgres()
        migrate_database(base_environment(), stack.database_url)
        yield stack
    finally:
        stop_all(table)
        forget_data(table)


def test_the_kafka_broker_restarted_mid_campaign(
    private_stack, make_system, sandbox_admin, fault_table
):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **private_stack.settings, **PACED)
    run = FaultRun(system, sandbox_admin, "kafka restarted")
    run.wait_sent(VALID // 4)
    private_stack.stop("kafka")
    reported = _wait_reported_down(system, "kafka")
    private_stack.start_kafka()
    outcome = run.finish()
    fault_table.record(
        "the Kafka broker stopped and restarted mid-campaign",
        f"all {len(reported)} services' /health answered 503 with kafka false; producers "
        "and consumers reconnected by themselves; sends whose results could not be "
        "published were handled again and recognised by the ledger",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_redis_restarted_mid_campaign(private_stack, make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **private_stack.settings, **PACED)
    run = FaultRun(system, sandbox_admin, "redis restarted")
    run.wait_sent(VALID // 4)
    private_stack.stop("redis")
    reported = _wait_reported_down(system, "redis")
    private_stack.start_redis()
    outcome = run.finish()
    fault_table.record(
        "Redis stopped and restarted mid-campaign (append-only file on, as in production)",
        f"all {len(reported)} services' /health answered 503 with redis false; sending "
        "paused while the ledger and limiter were unreachable (no claim, no send); work was "
        "retried in place and went on when Redis answered",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_postgres_restarted_mid_campaign(private_stack, make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    # Batches of 100: the dispatcher reads the audience's pages all through the campaign.
    system = make_system(sender_replicas=2, batch_size=100, **private_stack.settings, **PACED)
    run = FaultRun(system, sandbox_admin, "postgres restarted")
    run.wait_sent(VALID // 4)
    private_stack.stop("postgres")
    reported = _wait_reported_down(system, "postgres", users=("api", "dispatcher", "metrics"))
    metrics_log = system.table.get("metrics").log
    eventually_sync(
        lambda: "cannot fold results, retrying" in metrics_log.read_text(),
        timeout_s=60,
        what="the metrics service holding its batch until PostgreSQL answers",
    )
    private_stack.start_postgres()
    outcome = run.finish()
    fault_table.record(
        "PostgreSQL stopped and restarted mid-campaign",
        f"the {len(reported)} services that use it ({', '.join(sorted(reported))}) answered "
        "503 with postgres false; the senders went on with the batches already emitted; "
        "the metrics service kept its poll batch (outcomes go to PostgreSQL before the "
        "fold) and retried it in place, so progress and the dispatcher's credits waited; "
        "all went on once PostgreSQL answered",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)
