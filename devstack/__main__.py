"""python -m devstack {up,down,status,logs,token,test}: the local stack from the Makefile."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiokafka.errors import KafkaError

from devstack.browser import ensure_chromium
from devstack.kafka import replica_report
from devstack.paths import RUN_ROOT
from devstack.postgres import forget_data
from devstack.processes import ProcessTable, StartError, http_json, is_running, tail_lines
from devstack.stack import (
    bring_up_infrastructure,
    python_env,
    read_env_file,
    start_services,
    stop_all,
)
from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN

# CQ_RUN_DIR lets a test run a second stack beside a developer's own.
DEV_DIR = Path(os.environ.get("CQ_RUN_DIR") or RUN_ROOT / "dev")


def _terminate_on_sigterm() -> None:
    # CI and `timeout` stop us with SIGTERM: unwind so the finally blocks stop what we started.
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def up(kafka_nodes: int, redis_mode: str = "single") -> int:
    table = ProcessTable(DEV_DIR)
    base_env = dict(os.environ)
    sentinels_running = any(
        t.name.startswith("redis-sentinel-") and is_running(t) for t in table.tracked()
    )
    redis_running = any(
        t.name in ("redis", "redis-replica") and is_running(t) for t in table.tracked()
    )
    if redis_running and sentinels_running != (redis_mode == "sentinel"):
        running_mode = "sentinel" if sentinels_running else "single"
        print(
            f"make up failed: Redis runs here as {running_mode}, {redis_mode} asked for;"
            " stop it first with `make down`",
            file=sys.stderr,
        )
        return 1
    running = _running_kafka_nodes(table)
    if running and running != kafka_nodes:
        print(
            f"make up failed: {running} Kafka node(s) already run here, {kafka_nodes} asked for;"
            " stop them first with `make down`",
            file=sys.stderr,
        )
        return 1
    try:
        stack = bring_up_infrastructure(
            table,
            base_env,
            fixed_ports=True,
            kafka_nodes=kafka_nodes,
            redis_sentinel=redis_mode == "sentinel",
        )
        stack.write(DEV_DIR / "stack.env")
        health_urls = start_services(table, base_env, stack)
    except StartError as error:
        print(f"make up failed: {error}", file=sys.stderr)
        print("stopping what was started; see `make logs`", file=sys.stderr)
        stop_all(table)
        return 1
    values = stack.values
    nodes = f"  ({kafka_nodes} brokers)" if kafka_nodes > 1 else ""
    print(f"Kafka     {values['KAFKA_BOOTSTRAP_SERVERS']}{nodes}")
    print(f"Redis     {values['REDIS_URL']}")
    print(f"Postgres  {_without_password(values['DATABASE_URL'])}")
    if "REDIS_SENTINELS" in values:
        print(f"Sentinels {values['REDIS_SENTINELS']}  (master {values['REDIS_SENTINEL_MASTER']})")
    if "TWILIO_API_BASE_URL" in values:
        print(f"Sandbox   {values['TWILIO_API_BASE_URL']}  (no Twilio credentials set)")
    api_health = health_urls["api"]
    api_url = api_health.removesuffix("/health")
    print(f"API       {api_url}  (docs at /docs, web page at /)")
    print("Token     TOKEN=$(make token)  (a new marketer token; TOKEN_ROLE=admin for an admin)")
    print(f'CLI       .venv/bin/campaignctl login --api-url {api_url} --token "$TOKEN"')
    print("Stop everything with `make down`; logs with `make logs`.")
    return 0


def _without_password(url: str) -> str:
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    return urlunsplit(
        parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@"))
    )


def down() -> int:
    stopped = stop_all(ProcessTable(DEV_DIR))
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status() -> int:
    table = ProcessTable(DEV_DIR)
    tracked = table.tracked()
    if not tracked:
        print("nothing is running (start it with `make up`)")
        return 0
    for process in tracked:
        state = "running" if is_running(process) else "stopped"
        detail = ""
        env = read_env_file(DEV_DIR / f"{process.name}.env")
        port = env.get("API_PORT") or env.get("HEALTH_PORT")
        if port and state == "running":
            code, body = http_json(f"http://127.0.0.1:{port}/health")
            detail = f"health {code} {body}"
        print(f"{process.name:<15} pid {process.pid:<8} {state:<8} {detail}")
    bootstrap = read_env_file(DEV_DIR / "stack.env").get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        _print_replicas(bootstrap)
    return 0


def _print_replicas(bootstrap: str) -> None:
    try:
        brokers, under_replicated, total = asyncio.run(replica_report(bootstrap))
    except (TimeoutError, KafkaError, OSError) as error:
        print(f"Kafka brokers: no answer from {bootstrap} ({type(error).__name__})")
        return
    print(f"Kafka brokers: {under_replicated} of {total} partitions under-replicated")
    for broker in brokers:
        print(
            f"  broker {broker.node_id} {broker.address:<21} leads {broker.leads:<4}"
            f" in sync on {broker.in_sync} of its {broker.replicas} replicas"
        )


def _running_kafka_nodes(table: ProcessTable) -> int:
    return sum(1 for t in table.tracked() if t.name.split("-")[0] == "kafka" and is_running(t))


def logs(lines: int) -> int:
    for path in sorted((DEV_DIR / "logs").glob("*.log")):
        print(f"==> {path.name} <==")
        print(tail_lines(path, lines))
    return 0


def token(user: str, role: str) -> int:
    """A new API token for the stack `make up` runs (its PostgreSQL may sit on a moved
    port, which only its env file knows), printed alone so that `TOKEN=$(make token)`
    captures it. A DATABASE_URL already set names the stack instead."""
    stack_env = read_env_file(DEV_DIR / "api.env")
    database_url = os.environ.get("DATABASE_URL") or stack_env.get("DATABASE_URL")
    if not database_url:
        print("no stack is running here: start one with `make up`", file=sys.stderr)
        return 1
    env = python_env(dict(os.environ), {**stack_env, "DATABASE_URL": database_url})
    argv = [sys.executable, "-m", "services.api", "create-token", user, "--role", role]
    return subprocess.run(argv, env=env, check=False).returncode


def run_tests(pytest_args: list[str]) -> int:
    """Start Kafka, Redis and the sandbox on free ports, run pytest, stop them whatever happens."""
    run_dir = RUN_ROOT / f"test-{os.getpid()}"
    table = ProcessTable(run_dir)
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KAFKA_", "REDIS")) and k != "DATABASE_URL"
    }
    base_env.pop("TWILIO_ACCOUNT_SID", None)
    try:
        stack = bring_up_infrastructure(table, base_env, fixed_ports=False)
        sandbox_url = stack.values["TWILIO_API_BASE_URL"]
        test_env = python_env(
            base_env,
            {
                **stack.values,
                "SANDBOX_URL": sandbox_url,
                "SANDBOX_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
                "SANDBOX_AUTH_TOKEN": SANDBOX_AUTH_TOKEN,
                "CQ_TEST_RUN_DIR": str(run_dir),
            },
        )
        # Before pytest: a first install takes minutes, which no test's timeout should count.
        ensure_chromium()
        print(f"test stack: {stack.values}", flush=True)
        result = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=test_env)
        return result.returncode
    except StartError as error:
        print(f"cannot start the test stack: {error}", file=sys.stderr)
        return 1
    finally:
        stop_all(table)
        forget_data(table)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start Kafka, Redis, the sandbox and the services")
    up_parser.add_argument(
        "--kafka-nodes", type=int, default=1, choices=(1, 3),
        help="one broker, or a cluster of three (replication 3, min in-sync 2)",
    )  # fmt: skip
    up_parser.add_argument(
        "--redis", choices=("single", "sentinel"), default="single",
        help="one Redis, or a primary, a replica and three Sentinels (failover)",
    )  # fmt: skip
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("status", help="what runs, and its health")
    logs_parser = commands.add_parser("logs", help="the last lines of every log")
    logs_parser.add_argument("-n", "--lines", type=int, default=40)
    token_parser = commands.add_parser("token", help="print a new API token for the stack")
    token_parser.add_argument("--user", default="marketer")
    token_parser.add_argument("--role", choices=("marketer", "admin"), default="marketer")
    test_parser = commands.add_parser("test", help="run pytest against a fresh local stack")
    test_parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    _terminate_on_sigterm()
    if args.command == "up":
        return up(args.kafka_nodes, args.redis)
    if args.command == "down":
        return down()
    if args.command == "status":
        return status()
    if args.command == "logs":
        return logs(args.lines)
    if args.command == "token":
        return token(args.user, args.role)
    args_for_pytest = [a for a in args.pytest_args if a != "--"]
    return run_tests(args_for_pytest)


if __name__ == "__main__":
    sys.exit(main())
