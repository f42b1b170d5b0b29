"""The sandbox as a process: configuration errors and a clean SIGTERM shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "services.twilio_sandbox"]


def sandbox_env(**variables: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SANDBOX_")}
    env.update(variables)
    return env


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SANDBOX_MPS", "ten"), ("SANDBOX_ERROR_RATE", "1.5"), ("SANDBOX_ACCOUNT_SID", "nope")],
)
def test_bad_setting_exits_2_with_one_line(variable: str, value: str) -> None:
    result = subprocess.run(
        COMMAND,
        cwd=REPO_ROOT,
        env=sandbox_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}: ")
    assert "Traceback" not in result.stderr


def test_sigterm_stops_cleanly_with_exit_0() -> None:
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "--port", str(port)],
        cwd=REPO_ROOT,
        env=sandbox_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20.0
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_sandbox/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "sandbox did not become healthy"
            time.sleep(0.02)

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"http://127.0.0.1:{port}" in stderr
