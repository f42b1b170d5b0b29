"""campaignctl's contact book, opt-outs and create options on the real stack: a refused
create leaves no contacts, search finds them, a non-admin is told plainly what only an
admin may do, each create field reaches the API, and the campaigns table reads well."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack.system import ADMIN_TOKEN, TOKEN
from tests.cli.test_campaignctl_on_the_stack import campaignctl, cli_env, one_error_line  # noqa: F401
from tests.e2e.test_campaigns import valid_phone

pytestmark = pytest.mark.integration


@pytest.fixture
def env(make_system, sandbox_admin, cli_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    system = make_system()
    return cli_env | {"CAMPAIGNCTL_API_URL": system.api_url, "CAMPAIGNCTL_TOKEN": TOKEN}


def contacts_total(env: dict[str, str]) -> int:
    listed = campaignctl("contacts", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["total"]


def test_a_refused_create_leaves_no_contacts_and_a_good_one_saves_them(env, tmp_path: Path) -> None:
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(f"name,phone\nAna Pérez,{valid_phone(1)}\nLuis,{valid_phone(2)}\n")
    base = ["campaigns", "create", "--name", "x", "--contacts-csv", str(csv_file)]

    bad_template = campaignctl(*base, "--content-sid", "HXnot-a-template", env=env)
    assert one_error_line(bad_template).startswith("error: Message")
    past = campaignctl(*base, "--message", "Hola", "--schedule", "2001-01-01T09:00", env=env)
    assert one_error_line(past).startswith("error: Schedule ")
    assert contacts_total(env) == 0

    created = campaignctl(*base, "--message", "Hola {{name}}", "--json", env=env)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["totalContacts"] == 2
    assert "Saved 2 contacts" in created.stderr
    assert contacts_total(env) == 2

    # Search by name (any case) and by phone prefix; a table for people.
    found = campaignctl("contacts", "search", "ana", "--json", env=env)
    assert [c["name"] for c in json.loads(found.stdout)["contacts"]] == ["Ana Pérez"]
    by_phone = campaignctl("contacts", "list", "--search", valid_phone(2), env=env)
    assert by_phone.returncode == 0, by_phone.stderr
    assert valid_phone(2) in by_phone.stdout and "Luis" in by_phone.stdout
    assert valid_phone(1) not in by_phone.stdout
    assert "page 1" in campaignctl("contacts", "list", "--page", "1", env=env).stdout


def test_opt_outs_and_what_only_an_admin_may_do(env) -> None:
    phone = valid_phone(7)
    added = campaignctl("suppressions", "add", phone, env=env)
    assert added.returncode == 0, added.stderr
    assert f"{phone} is suppressed: added by a user" in added.stdout
    shown = campaignctl("suppressions", "show", phone, "--json", env=env)
    assert json.loads(shown.stdout)["reason"] == "api"

    # A marketer's token: refused in words, no HTTP status, no traceback.
    listed = one_error_line(campaignctl("suppressions", "list", env=env))
    assert listed == "error: Only an admin can list opt-outs"
    removed = one_error_line(campaignctl("suppressions", "remove", phone, env=env))
    assert removed == "error: Only an admin can change opt-outs"
    as_json = campaignctl("suppressions", "remove", phone, "--json", env=env)
    assert one_error_line(as_json) == "error: Only an admin can change opt-outs (403)"

    admin = env | {"CAMPAIGNCTL_TOKEN": ADMIN_TOKEN}
    table = campaignctl("suppressions", "list", env=admin)
    assert table.returncode == 0, table.stderr
    assert phone in table.stdout and "added by a user" in table.stdout
    assert campaignctl("suppressions", "remove", phone, env=admin).returncode == 0
    gone = one_error_line(campaignctl("suppressions", "show", phone, env=env))
    assert gone == f"error: {phone} is not suppressed"


def test_every_create_option_reaches_the_api_and_the_list_reads_well(env, tmp_path) -> None:
    bad = campaignctl(
        "campaigns", "create", "--name", "x", "--message", "hi", "--contact", "c",
        "--schedule", "next friday", env=env,
    )  # fmt: skip
    assert bad.returncode == 2
    said = " ".join(bad.stderr.split())
    assert "--schedule: not a date; use 2026-12-24T09:00 or 2026-12-24T09:00+01:00" in said
    window = campaignctl(
        "campaigns", "create", "--name", "x", "--message", "hi", "--contact", "c",
        "--send-window", "9-20", env=env,
    )  # fmt: skip
    assert window.returncode == 2 and "09:00-20:00" in window.stderr

    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(f"phone\n{valid_phone(3)}\n")
    created = campaignctl(
        "campaigns", "create", "--name", "options", "--message", "Hola",
        "--contacts-csv", str(csv_file), "--no-save-contacts",
        "--schedule", "2099-01-01T09:00+01:00", "--expires", "2099-01-02T09:00Z",
        "--priority", "high", "--send-window", "09:00-20:00",
        "--window-timezone", "Europe/Madrid", "--json", env=env,
    )  # fmt: skip
    # 2099 is more than 366 days ahead: the API names the field.
    assert one_error_line(created).startswith("error: Schedule ")
    created = campaignctl(
        "campaigns", "create", "--name", "options", "--message", "Hola",
        "--contacts-csv", str(csv_file), "--no-save-contacts",
        "--expires", "2030-01-02T09:00Z", "--priority", "high",
        "--send-window", "22:00-06:00", "--window-timezone", "Europe/Madrid",
        "--json", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    campaign = json.loads(created.stdout)
    assert campaign["expiresAt"].startswith("2030-01-02T09:00")
    assert campaign["priority"] == "high"
    assert campaign["sendWindow"] == {"start": "22:00", "end": "06:00", "timezone": "Europe/Madrid"}
    assert contacts_total(env) == 0  # --no-save-contacts

    listed = campaignctl("campaigns", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert campaign["id"][:8] in listed.stdout and campaign["id"] not in listed.stdout
    assert not re.search(r"\dT\d\d:\d\d", listed.stdout)
    for column in ("Sent", "Failed", "Cancelled", "Finished"):
        assert column in listed.stdout
    # The short id is enough for the other commands.
    status = campaignctl("campaigns", "status", campaign["id"][:8], "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["campaignId"] == campaign["id"]


def test_a_refused_token_hint_fits_where_it_came_from(env, tmp_path) -> None:
    url = env["CAMPAIGNCTL_API_URL"]
    bare = {k: v for k, v in env.items() if k != "CAMPAIGNCTL_TOKEN"}
    login = one_error_line(campaignctl("login", "--api-url", url, "--token", "nope", env=bare))
    assert f"the server at {url} refused the token just given; check it" in login
    from_env = one_error_line(
        campaignctl("campaigns", "list", env=env | {"CAMPAIGNCTL_TOKEN": "x"})
    )
    assert "refused the token in CAMPAIGNCTL_TOKEN" in from_env
    config_file = Path(env["XDG_CONFIG_HOME"]) / "campaignctl" / "config.json"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps({"api_url": url, "token": "stale"}))
    saved = one_error_line(campaignctl("campaigns", "list", env=bare))
    assert "refused the saved token; run 'campaignctl login' again" in saved
