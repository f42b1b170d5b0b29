"""python -m bench [--smoke] [--only NAME ...]: run the scenarios, write the results.

Uses the Kafka, Redis and sandbox named in the environment (as `make test` sets
them), or starts its own on free ports and stops them afterwards. A full run
writes bench/results.json and BENCHMARKS.md; a smoke run writes only where
--results says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import Bench
from bench.report import render
from bench.scenarios import SCENARIOS
from devstack.debian import ensure_wrk
from devstack.paths import RUN_ROOT
from devstack.postgres import forget_data
from devstack.processes import ProcessTable, StartError
from devstack.stack import bring_up_infrastructure, stop_all

REPO = Path(__file__).resolve().parents[1]


def _machine(seconds: float) -> dict:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024),
        "python": f"Python {platform.python_version()}",
        "commit": commit or "unknown",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "seconds": seconds,
    }


def _stack_from_environment() -> dict[str, str] | None:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "SANDBOX_URL", "DATABASE_URL")
    if not all(os.environ.get(name) for name in names):
        return None
    return {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "TWILIO_API_BASE_URL": os.environ["SANDBOX_URL"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="these scenarios")
    parser.add_argument("--results", type=Path, help="where the JSON goes")
    args = parser.parse_args(argv)
    run_dir = RUN_ROOT / f"bench-{os.getpid()}"
    table = ProcessTable(run_dir)
    started = time.monotonic()
    names = args.only or list(SCENARIOS)
    try:
        if "api_under_load" in names:
            ensure_wrk()  # Debian's wrk, installed when missing: before anything starts
        stack = _stack_from_environment()
        if stack is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
            env.pop("TWILIO_ACCOUNT_SID", None)
            stack = bring_up_infrastructure(table, env, fixed_ports=False).values
        bench = Bench(stack, run_dir)
        results: dict = {}
        for name in names:
            print(f"== {name}", flush=True)
            results[name] = SCENARIOS[name](bench, args.smoke)
            print(json.dumps(results[name]), flush=True)
    except StartError as error:
        print(f"cannot start the stack: {error}", file=sys.stderr)
        return 1
    finally:
        stop_all(table)
        forget_data(table)
        shutil.rmtree(run_dir, ignore_errors=True)
    machine = _machine(time.monotonic() - started)
    document = {"machine": machine, "smoke": args.smoke, "results": results}
    results_path = args.results or (None if args.smoke else REPO / "bench" / "results.json")
    if results_path is not None:
        results_path.write_text(json.dumps(document, indent=2) + "\n")
    if not args.smoke and not args.only:
        (REPO / "BENCHMARKS.md").write_text(render(results, machine))
        print("wrote BENCHMARKS.md and bench/results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
