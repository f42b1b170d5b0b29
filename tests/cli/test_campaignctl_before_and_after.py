"""campaignctl before and after a send, on the real stack: preview (a missing variable
named), a test send that lands in the sandbox and counts in nothing, clone and delete,
and retry-failed offered with its count and asked before it sends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devstack.system import TOKEN
from tests.cli.test_campaignctl_on_the_stack import campaignctl, one_error_line
from tests.e2e.test_campaigns import FAST, ledger, start, valid_phone, wait_finished
from tests.helpers import eventually_sync

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "160", "PATH": "/usr/bin:/bin"}
    # The console script imports campaignctl from where the tests run it (a worktree too).
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def test_preview_test_send_clone_delete(make_system, sandbox_admin, env) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    env |= {"CAMPAIGNCTL_API_URL": system.api_url, "CAMPAIGNCTL_TOKEN": TOKEN}
    with system.client() as client:
        contacts = [{"phone": valid_phone(i), "name": f"Ana {i}"} for i in range(3)]
        body = {"name": "cli", "message": "Hola {{name}} {{city}}", "contacts": contacts,
                "missingVars": "empty"}  # fmt: skip
        created = client.post("/api/campaigns", json=body)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]

    shown = campaignctl("campaigns", "preview", campaign_id, "--limit", "2", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Hola Ana 0" in shown.stdout and "Missing {{city}}" in shown.stdout
    assert "3 recipients" in shown.stdout

    mine = valid_phone(500)
    sent = campaignctl("campaigns", "test-send", campaign_id, mine, env=env)
    assert sent.returncode == 0, sent.stderr
    assert f"Test message queued to {mine}" in sent.stdout
    eventually_sync(
        lambda: any(m["to"] == f"whatsapp:{mine}" for m in ledger(sandbox_admin)),
        timeout_s=30,
        what="the test message in the sandbox",
    )
    status = json.loads(campaignctl("campaigns", "status", campaign_id, "--json", env=env).stdout)
    assert (status["status"], status["account"]["waiting"]) == ("draft", 3)

    copy = json.loads(campaignctl("campaigns", "clone", campaign_id, "--json", env=env).stdout)
    assert (copy["name"], copy["status"], copy["totalContacts"]) == ("cli (copy)", "draft", 3)
    refused = campaignctl("campaigns", "delete", copy["id"], env=env, input_text="n\n")
    assert refused.returncode == 1  # asked, and said no: still there
    assert campaignctl("campaigns", "status", copy["id"], env=env).returncode == 0
    deleted = campaignctl("campaigns", "delete", copy["id"], "--yes", env=env)
    assert deleted.returncode == 0, deleted.stderr
    gone = one_error_line(campaignctl("campaigns", "status", copy["id"], env=env))
    assert "not found" in gone


def test_retry_failed_shows_the_count_and_asks_first(make_system, sandbox_admin, env) -> None:
    # Half of Twilio's answers are 500s, and the sender gives up at the first one.
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000, "error_rate": 0.5})
    system = make_system(send_max_attempts=1, **FAST)
    env |= {"CAMPAIGNCTL_API_URL": system.api_url, "CAMPAIGNCTL_TOKEN": TOKEN}
    with system.client() as client:
        contacts = [{"phone": valid_phone(i)} for i in range(20)]
        created = client.post("/api/campaigns", json={"name": "flaky", "message": "Hola",
                                                      "contacts": contacts})  # fmt: skip
        campaign_id = created.json()["id"]
        start(client, campaign_id)
        wait_finished(client, campaign_id, timeout_s=120)
        retryable = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"][
            "retryableFailures"
        ]
    assert retryable > 0
    sandbox_admin.post("/_sandbox/faults", json={"error_rate": 0}).raise_for_status()

    declined = campaignctl("campaigns", "retry-failed", campaign_id, env=env, input_text="n\n")
    assert declined.returncode == 1
    assert f"Send again to {retryable} recipient" in declined.stderr
    run = campaignctl("campaigns", "retry-failed", campaign_id, "--yes", "--json", env=env)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert 0 < answer["estimatedContacts"] <= retryable
    nothing_left = one_error_line(campaignctl("campaigns", "retry-failed", campaign_id, env=env))
    assert "no failure a retry may help" in nothing_left
