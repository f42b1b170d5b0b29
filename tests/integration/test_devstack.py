"""`make up` / `make down` as a user runs them: everything healthy, then nothing left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from devstack.processes import ProcessTable, is_running
from tests.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def _devstack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", command],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_up_starts_every_service_healthy_and_down_stops_them_all(
    stack, unique_prefix: str, tmp_path: Path, database_url: str
) -> None:
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SANDBOX_"))}
    env.update(
        {
            # Reuse the session's Kafka, Redis and PostgreSQL, as `make up` reuses
            # what answers.
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "REDIS_URL": stack.redis_url,
            "DATABASE_URL": database_url,
            "KAFKA_TOPIC_PREFIX": unique_prefix,
            "API_PORT": str(api_port),
            "SANDBOX_PORT": str(free_port()),
            "CQ_RUN_DIR": str(tmp_path / "run"),
            "DISPATCHER_DATA_DIR": str(tmp_path / "dispatcher"),
        }
    )
    table = ProcessTable(tmp_path / "run")
    try:
        up = _devstack("up", env)
        assert up.returncode == 0, up.stderr + up.stdout
        assert f"API       http://127.0.0.1:{api_port}" in up.stdout
        assert "Sandbox" in up.stdout
        assert "Postgres  postgresql://campaign_queue:***@" in up.stdout

        started = {process.name for process in table.tracked()}
        assert started == {"api", "dispatcher", "sender", "metrics", "twilio_sandbox"}
        health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=5)
        assert health.json() == {"status": "ok", "kafka": True, "redis": True, "postgres": True}

        status = _devstack("status", env)
        assert status.stdout.count("running") == 5, status.stdout
    finally:
        tracked = table.tracked()
        down = _devstack("down", env)
    assert down.returncode == 0, down.stderr
    assert [process.name for process in tracked if is_running(process)] == []
    assert table.tracked() == []
