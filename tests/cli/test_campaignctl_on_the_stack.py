"""The installed ``campaignctl`` console script against the whole system on the real stack:
api, dispatcher, sender and metrics processes, Kafka, Redis and the Twilio sandbox."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.system import TOKEN
from tests.e2e.test_campaigns import valid_phone

CONTACTS = 20
PAUSABLE_CONTACTS = 40
# The console script `make setup` installs next to the interpreter running the tests.
CAMPAIGNCTL = Path(sys.executable).with_name("campaignctl")

pytestmark = pytest.mark.integration


def campaignctl(
    *args: str, env: dict[str, str], timeout_s: float = 60, input_text: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CAMPAIGNCTL), *args],
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command; a traceback or a second line fails."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def summary_value(output: str, label: str) -> str:
    match = re.search(rf"^\W*{label}\W+(\S+)", output, re.MULTILINE)
    assert match, f"no {label} row in:\n{output}"
    return match[1]


@pytest.fixture
def system(make_system, sandbox_admin):
    return make_system()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    assert CAMPAIGNCTL.exists(), f"{CAMPAIGNCTL} missing: `make setup` installs it"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNCTL_")}
    # Its own config directory, wide columns so rich does not wrap the tables.
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "160"})
    return env


def test_create_start_follow_status_and_errors(system, cli_env, tmp_path: Path) -> None:
    login = campaignctl("login", "--api-url", system.api_url, "--token", TOKEN, env=cli_env)
    assert login.returncode == 0, login.stderr
    config_file = tmp_path / "config" / "campaignctl" / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    csv_file = tmp_path / "contacts.csv"
    rows = [f"n{i},{valid_phone(i)},c{i}" for i in range(CONTACTS)]
    csv_file.write_text("name,phone,code\n" + "\n".join(rows) + "\n")
    create = campaignctl(
        "campaigns", "create", "--name", "cli", "--message", "Hola {{name}} {{code}}",
        "--contacts-csv", str(csv_file), "--json", env=cli_env,
    )  # fmt: skip
    assert create.returncode == 0, create.stderr
    campaign = json.loads(create.stdout)
    assert (campaign["status"], campaign["totalContacts"]) == ("draft", CONTACTS)

    follow = campaignctl("campaigns", "start", campaign["id"], "--follow", env=cli_env)
    assert follow.returncode == 0, follow.stderr
    assert "Summary" in follow.stdout
    assert summary_value(follow.stdout, "Status") == "completed"
    assert summary_value(follow.stdout, "Total") == str(CONTACTS)
    assert summary_value(follow.stdout, "Sent") == str(CONTACTS)
    assert summary_value(follow.stdout, "Failed") == "0"

    status = campaignctl("campaigns", "status", campaign["id"], "--json", env=cli_env)
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    assert body["status"] == "completed"
    assert body["progress"]["total"] == body["progress"]["success"] == CONTACTS
    listing = json.loads(campaignctl("--json", "campaigns", "list", env=cli_env).stdout)
    assert [c["id"] for c in listing["campaigns"]] == [campaign["id"]]

    # Who got what: a page, a filter, and all of it as CSV.
    who = campaignctl("campaigns", "recipients", campaign["id"], "--json", env=cli_env)
    assert who.returncode == 0, who.stderr
    page = json.loads(who.stdout)
    assert page["total"] == CONTACTS
    assert {r["state"] for r in page["recipients"]} <= {"sent", "delivered", "read"}
    none_failed = campaignctl(
        "campaigns", "recipients", campaign["id"], "--state", "failed", "--json", env=cli_env
    )
    assert json.loads(none_failed.stdout)["total"] == 0
    table = campaignctl("campaigns", "recipients", campaign["id"], "--limit", "5", env=cli_env)
    assert f"Recipients (5 of {CONTACTS}, page 1)" in table.stdout
    exported = tmp_path / "who.csv"
    csv_run = campaignctl(
        "campaigns", "recipients", campaign["id"], "--csv", str(exported), env=cli_env
    )
    assert csv_run.returncode == 0, csv_run.stderr
    assert f"{CONTACTS} recipients written" in csv_run.stdout
    assert len(exported.read_text().splitlines()) == CONTACTS + 1

    # The API's errors: one line each, exit code 1; the HTTP status only under --json.
    unknown = one_error_line(campaignctl("campaigns", "status", "no-such-id", env=cli_env))
    assert unknown == "error: campaign 'no-such-id' not found"
    for_scripts = campaignctl("campaigns", "status", "no-such-id", "--json", env=cli_env)
    assert one_error_line(for_scripts) == "error: campaign 'no-such-id' not found (404)"
    conflict = one_error_line(campaignctl("campaigns", "pause", campaign["id"], env=cli_env))
    assert conflict == f"error: campaign '{campaign['id']}': cannot pause: it is completed"
    # A token given on the command line and refused: check it, logging in would not help.
    bad_token = one_error_line(campaignctl("--token", "wrong", "campaigns", "list", env=cli_env))
    assert bad_token.startswith("error: missing or invalid bearer token")
    assert f"the server at {system.api_url} refused the token just given" in bad_token
    assert "login" not in bad_token and "401" not in bad_token
    past = campaignctl(
        "campaigns", "create", "--name", "late", "--message", "hi", "--contact", "x",
        "--schedule", "2001-01-01T00:00:00Z", env=cli_env,
    )  # fmt: skip
    assert one_error_line(past).startswith("error: Schedule ")
    assert "422" not in one_error_line(past)
    # A usage error is typer's: exit code 2.
    assert campaignctl("campaigns", "start", env=cli_env).returncode == 2


def test_pause_resume_follow_and_the_tables(system, cli_env, tmp_path: Path) -> None:
    cli_env.update({"CAMPAIGNCTL_API_URL": system.api_url, "CAMPAIGNCTL_TOKEN": TOKEN})
    csv_file = tmp_path / "contacts.csv"
    phones = [valid_phone(i) for i in range(PAUSABLE_CONTACTS)]
    csv_file.write_text("phone\n" + "\n".join(phones) + "\n")
    imported = campaignctl("contacts", "import", str(csv_file), env=cli_env)
    assert imported.returncode == 0, imported.stderr
    assert summary_value(imported.stdout, "Imported") == str(PAUSABLE_CONTACTS)
    created = campaignctl(
        "campaigns", "create", "--name", "[b]pausable", "--message", "Hola",
        "--contacts-csv", str(csv_file), "--priority", "high", env=cli_env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    campaign_id = summary_value(created.stdout, "ID")
    assert "[b]pausable" in created.stdout  # the user's text, not rich markup

    # At 10 messages a second, the campaign takes four seconds: the pause comes well before.
    for action, status in (("start", "queued"), ("pause", "paused"), ("resume", "sending")):
        result = campaignctl("campaigns", action, campaign_id, "--json", env=cli_env)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert (answer.get("status") or answer["campaign"]["status"]) == status

    followed = campaignctl("campaigns", "status", campaign_id, "--follow", "--json", env=cli_env)
    assert followed.returncode == 0, followed.stderr
    final = json.loads(followed.stdout)
    assert final["status"] == "completed"
    assert final["progress"]["success"] == PAUSABLE_CONTACTS

    for args in (["campaigns", "list"], ["campaigns", "status", campaign_id], ["metrics"]):
        shown = campaignctl(*args, env=cli_env)
        assert (shown.returncode, shown.stderr) == (0, ""), args
    # The list shows the id's first characters, which every command takes too.
    assert campaign_id[:8] in campaignctl("campaigns", "list", env=cli_env).stdout
    metrics = json.loads(campaignctl("metrics", "--json", env=cli_env).stdout)
    assert metrics["metrics"]["campaignQueue"]["completed"] == 1
    assert isinstance(metrics["alerts"], list)
