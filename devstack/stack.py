"""The local stack as a whole: what `make up`, `make down` and `make test` start and stop."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.kafka import (
    KafkaPorts,
    cluster_bootstrap,
    kafka_answers,
    node_name,
    start_kafka_cluster,
)
from devstack.paths import REPO_ROOT
from devstack.postgres import database_url as local_database_url
from devstack.postgres import postgres_answers, running_port, start_postgres
from devstack.processes import (
    ProcessTable,
    StartError,
    Tracked,
    await_ready,
    free_port,
    http_ok,
    is_running,
    port_open,
)
from devstack.redis import (
    REPLICA_NAME,
    SENTINEL_NAMES,
    SentinelGroup,
    redis_answers,
    restart_lost_redis,
    start_redis,
    start_redis_sentinel_group,
)
from shared.topics import Replication

DEFAULT_KAFKA_PORT = 9092
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_SANDBOX_PORT = 8090
DEFAULT_API_PORT = 8000
DEFAULT_API_METRICS_PORT = 9464
# Health ports of the services without an HTTP API of their own.
DEFAULT_HEALTH_PORTS = {"dispatcher": 8101, "sender": 8102, "metrics": 8103}
SERVICES = ("api", "dispatcher", "sender", "metrics")
# Stopped in this order: consumers before what they consume from.
# The Sentinels before the Redis they watch: else they would fail over to a replica
# that is about to stop too.
STOP_ORDER = (
    "api", "dispatcher", "sender", "metrics", "twilio_sandbox",
    *SENTINEL_NAMES, "redis", REPLICA_NAME, "postgres", "kafka",
)  # fmt: skip
DEFAULT_SENTINEL_PORTS = (26379, 26380, 26381)
DEFAULT_REDIS_PORT = 6379
DEFAULT_REPLICA_PORT = 6380


@dataclass
class StackEnv:
    """The environment the services and tests run with, and what it points at."""

    values: dict[str, str] = field(default_factory=dict)
    owned: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{key}={value}\n" for key, value in sorted(self.values.items())))


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _port_or_free(preferred: int) -> int:
    return preferred if not port_open("127.0.0.1", preferred) else free_port()


def python_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def bring_up_infrastructure(
    table: ProcessTable,
    base_env: Mapping[str, str],
    *,
    fixed_ports: bool,
    kafka_nodes: int = 1,
    redis_sentinel: bool = False,
) -> StackEnv:
    """Kafka (one broker, or a cluster of ``kafka_nodes``), Redis (alone, or with
    ``redis_sentinel`` a primary, a replica and three Sentinels) and (without Twilio
    credentials) the sandbox; reuses what already answers."""
    stack = StackEnv()
    values = stack.values

    given_kafka = base_env.get("KAFKA_BOOTSTRAP_SERVERS") if fixed_ports else None
    if given_kafka:
        if not kafka_answers(given_kafka):
            raise StartError(f"KAFKA_BOOTSTRAP_SERVERS={given_kafka} does not answer")
        values["KAFKA_BOOTSTRAP_SERVERS"] = given_kafka
    else:
        values["KAFKA_BOOTSTRAP_SERVERS"] = _own_kafka(table, fixed_ports, kafka_nodes)
        stack.owned.extend(node_name(i, kafka_nodes) for i in range(1, kafka_nodes + 1))
        if kafka_nodes > 1:
            replication = Replication.for_brokers(kafka_nodes)
            values["KAFKA_REPLICATION_FACTOR"] = str(replication.factor)
            values["KAFKA_MIN_INSYNC_REPLICAS"] = str(replication.min_insync)

    given_redis = base_env.get("REDIS_URL") or base_env.get("REDISCLOUD_URL") or DEFAULT_REDIS_URL
    if redis_sentinel:
        group = _own_redis_sentinel_group(table, fixed_ports)
        values["REDIS_URL"] = group.primary_url  # tools that read Redis directly
        values["REDIS_SENTINELS"] = group.sentinels
        values["REDIS_SENTINEL_MASTER"] = group.master
        values["REDIS_MIN_REPLICAS_ACKED"] = "1"
        stack.owned.extend(["redis", REPLICA_NAME, *SENTINEL_NAMES])
    elif fixed_ports and redis_answers(given_redis):
        values["REDIS_URL"] = given_redis
    else:
        values["REDIS_URL"] = _own_redis(table, fixed_ports)
        stack.owned.append("redis")

    given_database = base_env.get("DATABASE_URL") if fixed_ports else None
    if given_database:
        if not postgres_answers(given_database):
            raise StartError("DATABASE_URL does not answer (pg_isready)")
        values["DATABASE_URL"] = given_database
    else:
        values["DATABASE_URL"] = _own_postgres(table, fixed_ports)
        stack.owned.append("postgres")
    migrate_database(base_env, values["DATABASE_URL"])

    if not base_env.get("TWILIO_ACCOUNT_SID"):
        sandbox_port = _sandbox_port(table, base_env, fixed_ports)
        values["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{sandbox_port}"
        stack.owned.append("twilio_sandbox")
    return stack


def _own_kafka(table: ProcessTable, fixed_ports: bool, nodes: int) -> str:
    running = _running_kafka(table, nodes)
    if running:
        return running
    cluster = []
    for index in range(nodes):
        # Brokers on 9092, 9094, 9096 and their controllers one above, where free.
        broker = DEFAULT_KAFKA_PORT + 2 * index
        if fixed_ports and not port_open("127.0.0.1", broker):
            cluster.append(KafkaPorts(broker, _port_or_free(broker + 1)))
        else:
            cluster.append(KafkaPorts(free_port(), free_port()))
    start_kafka_cluster(table, cluster)
    return cluster_bootstrap(cluster)


def _running_kafka(table: ProcessTable, nodes: int) -> str | None:
    """The bootstrap of this run folder's Kafka when all its nodes run and answer."""
    addresses = []
    for node_id in range(1, nodes + 1):
        name = node_name(node_id, nodes)
        existing = table.get(name)
        config = table.run_dir / name / "server.properties"
        if not (existing and is_running(existing) and config.exists()):
            return None
        addresses.append(_bootstrap_from_config(config))
    bootstrap = ",".join(addresses)
    return bootstrap if kafka_answers(bootstrap) else None


def _bootstrap_from_config(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("advertised.listeners="):
            return line.split("//", 1)[1]
    return ""


def _own_redis(table: ProcessTable, fixed_ports: bool) -> str:
    existing = table.get("redis")
    if existing and is_running(existing):
        port = int(existing.argv[existing.argv.index("--port") + 1])
        return f"redis://127.0.0.1:{port}/0"
    port = _port_or_free(6379) if fixed_ports else free_port()
    start_redis(table, port)
    return f"redis://127.0.0.1:{port}/0"


def _own_postgres(table: ProcessTable, fixed_ports: bool) -> str:
    existing = table.get("postgres")
    if existing and is_running(existing):
        return local_database_url(running_port(existing))
    port = _port_or_free(DEFAULT_POSTGRES_PORT) if fixed_ports else free_port()
    # `make up` keeps its data as a system of record should; a test run need not fsync.
    return start_postgres(table, port, durable=fixed_ports)


def migrate_database(base_env: Mapping[str, str], database_url: str) -> None:
    """The schema to its newest revision, as the image's `migrate` command does."""
    argv = [sys.executable, "-m", "shared.database", "migrate"]
    env = python_env(base_env, {"DATABASE_URL": database_url})
    result = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise StartError(f"the database migration failed:\n{result.stderr or result.stdout}")


def _own_redis_sentinel_group(table: ProcessTable, fixed_ports: bool) -> SentinelGroup:
    names = ("redis", REPLICA_NAME, *SENTINEL_NAMES)
    existing = [table.get(name) for name in names]
    servers, sentinels = existing[:2], existing[2:]
    known = [t for t in existing if t is not None]
    if len(known) == len(names) and all(is_running(t) for t in sentinels if t is not None):
        if any(is_running(t) for t in servers if t is not None):
            primary, replica, *sentinel_ports = (_argv_port(t) for t in known)
            group = SentinelGroup(primary, replica, tuple(sentinel_ports))
            restart_lost_redis(table, group)  # one killed since (a failover): now a replica
            return group
    if any(t is not None and is_running(t) for t in existing):
        raise StartError("part of a Redis Sentinel group runs here; stop it with `make down`")

    def port(preferred: int) -> int:
        return _port_or_free(preferred) if fixed_ports else free_port()

    sentinel_ports = tuple(port(preferred) for preferred in DEFAULT_SENTINEL_PORTS)
    return start_redis_sentinel_group(
        table, port(DEFAULT_REDIS_PORT), port(DEFAULT_REPLICA_PORT), sentinel_ports
    )


def _argv_port(tracked: Tracked) -> int:
    if "--port" in tracked.argv:
        return int(tracked.argv[tracked.argv.index("--port") + 1])
    config = Path(tracked.argv[1]).read_text()  # a Sentinel: its port is in its config
    return int(next(line.split()[1] for line in config.splitlines() if line.startswith("port ")))


def _sandbox_port(table: ProcessTable, base_env: Mapping[str, str], fixed_ports: bool) -> int:
    existing = table.get("twilio_sandbox")
    if existing and is_running(existing):
        return int(existing.argv[existing.argv.index("--port") + 1])
    preferred = int(base_env.get("SANDBOX_PORT", DEFAULT_SANDBOX_PORT))
    port = _port_or_free(preferred) if fixed_ports else free_port()
    tracked = start_python(
        table,
        "twilio_sandbox",
        ["-m", "services.twilio_sandbox", "--port", str(port)],
        base_env,
        {},
    )
    url = f"http://127.0.0.1:{port}/_sandbox/health"
    await_ready(tracked, lambda: http_ok(url), 30, "Twilio sandbox")
    return port


def start_python(
    table: ProcessTable,
    name: str,
    args: list[str],
    base_env: Mapping[str, str],
    extra_env: Mapping[str, str],
) -> Tracked:
    return table.start(name, [sys.executable, *args], python_env(base_env, extra_env), REPO_ROOT)


def service_health_url(name: str, env: Mapping[str, str]) -> str:
    if name == "api":
        return f"http://127.0.0.1:{env['API_PORT']}/health"
    return f"http://127.0.0.1:{env['HEALTH_PORT']}/health"


def start_services(
    table: ProcessTable, base_env: Mapping[str, str], stack: StackEnv, timeout_s: float = 60
) -> dict[str, str]:
    """Start the four services and wait until each reports Kafka and Redis reachable."""
    health_urls = {}
    started = []
    api = table.get("api")
    if api and is_running(api):
        api_port = read_env_file(table.run_dir / "api.env")["API_PORT"]
    else:
        api_port = str(_port_or_free(int(base_env.get("API_PORT", DEFAULT_API_PORT))))
    shared_env = dict(stack.values)
    if not base_env.get("PUBLIC_BASE_URL") and not base_env.get("TWILIO_ACCOUNT_SID"):
        # The sandbox posts signed delivery receipts to the local api: the funnel works
        # out of the box. Real Twilio needs a URL it can reach, set by hand.
        shared_env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{api_port}"
    for name in SERVICES:
        existing = table.get(name)
        if existing and is_running(existing):
            env = read_env_file(table.run_dir / f"{name}.env")
            health_urls[name] = service_health_url(name, env)
            continue
        env = dict(shared_env)
        if name == "api":
            env["API_PORT"] = api_port
            # Prometheus' port of the api (not on the public API port), 9464 where free.
            env["API_METRICS_PORT"] = str(_port_or_free(DEFAULT_API_METRICS_PORT))
        else:
            env["HEALTH_PORT"] = str(_port_or_free(DEFAULT_HEALTH_PORTS[name]))
        StackEnv(env).write(table.run_dir / f"{name}.env")
        tracked = start_python(table, name, ["-m", f"services.{name}"], base_env, env)
        health_urls[name] = service_health_url(name, env)
        started.append((tracked, health_urls[name]))
    for tracked, url in started:
        await_ready(tracked, lambda url=url: http_ok(url), timeout_s, f"service {tracked.name}")
    return health_urls


def stop_all(table: ProcessTable) -> list[str]:
    stopped = []
    names = {t.name for t in table.tracked()}
    # A cluster's nodes stop together: one by one, the last ones would wait for a
    # controller quorum that is already gone.
    kafka_nodes = sorted(name for name in names if name.startswith("kafka-"))
    for name in [*STOP_ORDER, *sorted(names - set(STOP_ORDER) - set(kafka_nodes))]:
        if name in names and table.stop(name):
            stopped.append(name)
    stopped.extend(table.stop_together(kafka_nodes))
    return stopped


def base_environment() -> dict[str, str]:
    return dict(os.environ)
