"""`make up`, then the README's quick start as written: each ```sh block after a
`<!-- quick-start -->` line goes to bash unchanged, in the repository's folder. Only the
addresses differ, through the variables the README itself reads (API, SANDBOX), since
the test's stack sits on free ports."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devstack.paths import REPO_ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.integration

MARKER = "<!-- quick-start -->"
QUICK_START_PHONE = "+34611001000"


def quick_start_blocks(readme: str) -> list[str]:
    pattern = re.compile(re.escape(MARKER) + r"\s*```sh\n(.*?)```", re.DOTALL)
    return pattern.findall(readme)


def test_quick_start_blocks_are_found() -> None:
    blocks = quick_start_blocks((REPO_ROOT / "README.md").read_text())
    assert len(blocks) == 2
    assert "TOKEN=$(make token)" in blocks[0]
    assert ".venv/bin/campaignctl login" in blocks[1]


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", target], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def test_make_up_then_the_readme_quick_start_runs_verbatim(
    stack, unique_prefix: str, database_url: str, tmp_path: Path
) -> None:
    api_port, sandbox_port = free_port(), free_port()
    # As in a user's shell: no campaignctl or sandbox settings, not inside `make test`'s
    # make; the session's Kafka, Redis and PostgreSQL answer, so `make up` reuses them.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CAMPAIGNCTL_", "TWILIO_", "SANDBOX_"))
        and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    }
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "REDIS_URL": stack.redis_url,
            "DATABASE_URL": database_url,
            "KAFKA_TOPIC_PREFIX": unique_prefix,
            "API_PORT": str(api_port),
            "SANDBOX_PORT": str(sandbox_port),
            "CQ_RUN_DIR": str(tmp_path / "run"),
            "DISPATCHER_DATA_DIR": str(tmp_path / "dispatcher"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "160",
        }
    )
    api_url = f"http://127.0.0.1:{api_port}"
    script = "\n".join(quick_start_blocks((REPO_ROOT / "README.md").read_text()))
    # What the shell knew at the end: the README's own variables.
    script += '\necho\necho "QUICKSTART ID=$ID"\necho "QUICKSTART TOKEN=$TOKEN"\n'
    try:
        up = make("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"API       {api_url}" in up.stdout
        assert "TOKEN=$(make token)" in up.stdout and ".venv/bin/campaignctl login" in up.stdout
        # Only the addresses differ from a default `make up`, through the README's own
        # variables: the defaults would be 8000 and 8090.
        shell_env = {**env, "API": api_url, "SANDBOX": f"http://127.0.0.1:{sandbox_port}"}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO_ROOT, env=shell_env, capture_output=True, text=True, timeout=240,
            check=False,
        )  # fmt: skip
    finally:
        down = make("down", env)
    assert down.returncode == 0, down.stderr
    assert result.returncode == 0, (result.stdout, result.stderr)

    token = re.search(r"^QUICKSTART TOKEN=(\S+)$", result.stdout, re.MULTILINE)[1]
    assert re.search(r"^QUICKSTART ID=[0-9a-f-]{36}$", result.stdout, re.MULTILINE)
    assert token
    # The follow ended on the finished campaign: its summary says completed, one sent.
    assert re.search(r"Status\W+completed", result.stdout), result.stdout
    # The last command printed the sandbox's ledger, which holds the message.
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    assert QUICK_START_PHONE in printed[-3]
