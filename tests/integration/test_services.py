"""Each service starts on the real stack, reports its stores in its health, and stops
cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import settings_environment
from tests.helpers import eventually_sync, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("api", "dispatcher", "sender", "metrics")


def _service_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
    env.update(extra)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@pytest.mark.parametrize("service", SERVICES)
def test_service_reports_kafka_and_redis_and_stops_on_sigterm(
    service: str, make_settings, tmp_path: Path
) -> None:
    port = free_port()
    env = settings_environment(make_settings())
    env["API_PORT" if service == "api" else "HEALTH_PORT"] = str(port)
    env["DISPATCHER_DATA_DIR"] = str(tmp_path / "dispatcher")
    log_path = tmp_path / f"{service}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            env=_service_env(env),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> dict | None:
            assert process.poll() is None, log_path.read_text()[-2000:]
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.HTTPError:
                return None
            return response.json() if response.status_code == 200 else None

        report = eventually_sync(healthy, timeout_s=60, what=f"{service} healthy")
        stores = {"kafka": True, "redis": True}
        if service != "sender":  # the sender's hot path touches no database
            stores["postgres"] = True
        if service == "metrics":  # its fold loops, each of which could die alone
            stores["folding"] = True
        assert report == {"status": "ok", **stores}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()[-2000:]
        assert b"service stopped" in log_path.read_bytes()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("service", [*SERVICES, "twilio_sandbox"])
def test_a_bad_setting_stops_the_service_with_one_line(service: str) -> None:
    variable = "SANDBOX_MPS" if service == "twilio_sandbox" else "BATCH_SIZE"
    result = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env=_service_env({variable: "abc"}),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and "abc" in lines[0]
    assert "Traceback" not in result.stderr
