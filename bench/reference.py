"""``node_reference``: the machine's yardstick, a one-job-per-message Node queue.

bench/reference/queue.mjs is BullMQ on the stack's Redis, each job one POST to the
sandbox, and none of our code: what it reaches in a sitting says how fast the machine
is then, so a change in pipeline_capacity beside it can be told from a change of
machine. It needs no service of ours, only the stack's Redis and sandbox.

The Node packages come from the committed lock (``npm ci``) the first time; where
node is missing, or npm cannot install them in time (a CI without the registry), the
scenario reports itself skipped with the reason instead of failing the bench.

CPU is read from /proc, as pipeline_capacity reads it: the node process's apart,
the sandbox's and Redis's apart, over the same span the script times, from just
before its first job is added to its last job's end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

from bench.harness import Bench, cpu_per_message, cpu_seconds, phone
from shared.phones import whatsapp_address
from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings

REFERENCE_DIR = Path(__file__).with_name("reference")
SCRIPT = REFERENCE_DIR / "queue.mjs"
# The bench's campaigns name no sender number, so they send from the default one.
FROM_NUMBER = whatsapp_address(Settings.model_fields["twilio_whatsapp_number"].default)
# npm ci takes a few seconds where the registry answers; a smoke run in a CI that
# cannot reach it must not spend its time budget waiting for npm's retries.
INSTALL_TIMEOUT_S = {True: 60.0, False: 300.0}
# 20,000 messages at 100 ms and concurrency 50 cannot beat 40 s; ten minutes is a
# machine that is not working.
RUN_TIMEOUT_S = 600
MEASURED = ("twilio_sandbox", "redis")


def node_reference(bench: Bench, smoke: bool) -> dict:
    """Messages per second of the Node queue at each Twilio latency and concurrency,
    and CPU ms per message of node, and apart of the sandbox and Redis."""
    node = shutil.which("node")
    if node is None:
        return {"skipped": "node not installed"}
    if (reason := _install(INSTALL_TIMEOUT_S[smoke])) is not None:
        return {"skipped": reason}
    messages = 300 if smoke else 20_000
    combinations = [(0, 50)] if smoke else [(ms, c) for ms in (0, 100) for c in (50, 200)]
    bench.run_dir.mkdir(parents=True, exist_ok=True)
    recipients = bench.run_dir / "reference-recipients.txt"
    recipients.write_text("".join(f"{whatsapp_address(phone(i))}\n" for i in range(messages)))
    try:
        runs = [
            _run(bench, node, recipients, messages, latency_ms, concurrency)
            for latency_ms, concurrency in combinations
        ]
    finally:
        bench.reset_sandbox()
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    bullmq = json.loads((REFERENCE_DIR / "node_modules" / "bullmq" / "package.json").read_text())
    return {"node": version.strip(), "bullmq": bullmq["version"], "runs": runs}


def _installed() -> bool:
    """npm writes node_modules/.package-lock.json last: newer than the committed lock,
    the tree is the one it pins (the Makefile's stamp, npm's own file)."""
    hidden = REFERENCE_DIR / "node_modules" / ".package-lock.json"
    lock = REFERENCE_DIR / "package-lock.json"
    return hidden.exists() and hidden.stat().st_mtime >= lock.stat().st_mtime


def _install(timeout_s: float) -> str | None:
    """None once the packages are in place, else why they are not."""
    if _installed():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not installed"
    try:
        finished = subprocess.run(
            [npm, "ci", "--loglevel=error"],
            cwd=REFERENCE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return f"npm ci did not finish within {timeout_s:g} s"
    if finished.returncode != 0:
        return f"npm ci failed: {finished.stderr.strip()[-300:]}"
    return None


def _run(
    bench: Bench, node: str, recipients: Path, messages: int, latency_ms: int, concurrency: int
) -> dict:
    # A fresh sandbox each run, as bench.system gives every scenario.
    bench.reset_sandbox()
    bench.faults(mps=1_000_000, latency_ms=latency_ms)
    theirs = {n: pid for n, pid in bench.infrastructure_pids().items() if n in MEASURED}
    env = {
        **os.environ,
        "REDIS_URL": bench.stack["REDIS_URL"],
        "TWILIO_API_BASE_URL": bench.stack["TWILIO_API_BASE_URL"],
        "TWILIO_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": SANDBOX_AUTH_TOKEN,
    }
    argv = [node, str(SCRIPT), "--queue", f"reference-{uuid.uuid4().hex[:8]}",
            "--recipients", str(recipients), "--from", FROM_NUMBER,
            "--concurrency", str(concurrency), "--timeout-s", str(RUN_TIMEOUT_S)]  # fmt: skip
    log = bench.run_dir / f"reference-{latency_ms}ms-{concurrency}.log"
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    result: dict | None = None
    with log.open("w") as stderr:
        process = subprocess.Popen(
            argv, cwd=REFERENCE_DIR, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        # The script keeps its own deadline; this one is for a script that hangs anyway.
        watchdog = threading.Timer(RUN_TIMEOUT_S + 60, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                event = _event(line)
                # Read at the script's own marks, while node is alive: its /proc entry
                # goes when it exits, and its start-up and clean-up are not the queue's.
                if event.get("event") == "started":
                    before = _cpu(process.pid, theirs)
                elif event.get("event") == "finished":
                    after = _cpu(process.pid, theirs)
                    result = event
            process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
    if result is None or process.returncode != 0:
        said = log.read_text(errors="replace").strip()[-1000:]
        raise RuntimeError(
            f"the Node reference ended {process.returncode} without its result "
            f"(latency {latency_ms} ms, concurrency {concurrency}): {result or said}"
        )
    accepted = bench.sandbox.get("/_sandbox/stats").json()["responses"].get("201", 0)
    spent = {name: after[name] - before[name] for name in after}

    return {
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "messages": messages,
        "seconds": result["seconds"],
        "messages_per_s": result["messages_per_s"],
        "failed": result["failed"],
        "accepted_by_sandbox": accepted,
        **cpu_per_message(spent, {"node"}, messages),
    }


def _event(line: str) -> dict:
    """One of the script's JSON lines, or nothing for anything else it prints."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _cpu(node_pid: int, theirs: dict[str, int]) -> dict[str, float]:
    return {"node": cpu_seconds(node_pid)} | {n: cpu_seconds(pid) for n, pid in theirs.items()}
