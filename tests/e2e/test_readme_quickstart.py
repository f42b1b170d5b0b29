"""The README's quick start, run as written: each ```sh block after a `<!-- quick-start -->`
line goes to bash unchanged, in the repository's folder, against a running system. Only
the addresses differ, through the variables the README itself reads (API, SANDBOX) and
the DATABASE_URL that `make token` honours, since the test stack sits on free ports."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from devstack.paths import REPO_ROOT

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


def test_the_readme_quick_start_runs_verbatim(make_system, tmp_path: Path) -> None:
    system = make_system()
    script = "\n".join(quick_start_blocks((REPO_ROOT / "README.md").read_text()))
    # What the shell knew at the end: the README's own variables.
    script += '\necho\necho "QUICKSTART ID=$ID"\necho "QUICKSTART TOKEN=$TOKEN"\n'
    # As in a user's shell: no campaignctl settings, and not inside `make test`'s make.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CAMPAIGNCTL_") and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    }
    env.update(system.env)
    env.update(
        {
            "API": system.api_url,
            "SANDBOX": system.sandbox_url,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "160",
        }
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)

    campaign_id = re.search(r"^QUICKSTART ID=(\S+)$", result.stdout, re.MULTILINE)[1]
    token = re.search(r"^QUICKSTART TOKEN=(\S+)$", result.stdout, re.MULTILINE)[1]
    assert campaign_id and token
    # The follow ended on the finished campaign, and the API agrees with what it printed.
    answer = httpx.get(
        f"{system.api_url}/api/campaigns/{campaign_id}/queue-status",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    status = answer["status"]
    assert status["status"] == "completed"
    assert (status["account"]["succeeded"], status["account"]["total"]) == (1, 1)
    assert "completed" in result.stdout
    # The last line printed the sandbox's ledger, which holds the message.
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    assert QUICK_START_PHONE in printed[-3]
