"""The HTTP client against a fake transport, and the command line without an API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from campaignctl.client import ApiClient, StreamUnavailable
from campaignctl.config import Credentials
from campaignctl.errors import ApiError, CliError
from campaignctl.main import app
from tests.helpers import free_port


def fake_api(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    credentials = Credentials("http://api.test", "tok")
    return ApiClient(credentials, transport=httpx.MockTransport(handler))


def test_requests_carry_the_token_and_quote_the_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "status": {"campaignId": "a/b"}})

    with fake_api(handler) as api:
        assert api.queue_status("a/b") == {"campaignId": "a/b"}
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert seen[0].url.raw_path == b"/api/campaigns/a%2Fb/queue-status"


def test_an_error_status_becomes_an_api_error() -> None:
    body = {"detail": "campaign c not found", "message": "campaign c not found", "campaignId": "c"}
    with fake_api(lambda _: httpx.Response(404, json=body)) as api, pytest.raises(ApiError) as info:
        api.campaign("c")
    # The status is for scripts: a person reads the words, --json adds the number.
    assert info.value.line() == "error: campaign 'c' not found"
    assert info.value.line(with_status=True) == "error: campaign 'c' not found (404)"


def test_an_api_without_the_event_stream_is_told_apart_from_an_unknown_campaign() -> None:
    no_route = {"detail": "Not Found", "message": "Not Found"}
    with fake_api(lambda _: httpx.Response(404, json=no_route)) as api:
        with pytest.raises(StreamUnavailable):
            list(api.event_lines("c"))
    unknown = {"detail": "campaign c not found", "campaignId": "c"}
    with fake_api(lambda _: httpx.Response(404, json=unknown)) as api:
        with pytest.raises(ApiError):
            list(api.event_lines("c"))
    plain = httpx.Response(200, json={"not": "a stream"})
    with fake_api(lambda _: plain) as api, pytest.raises(StreamUnavailable):
        list(api.event_lines("c"))


def test_an_unreachable_api_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(Credentials(url, None), timeout_s=5) as api, pytest.raises(CliError) as info:
        api.campaigns(1, 1)
    assert info.value.line().startswith(f"error: cannot reach the API at {url}: ")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # No user config and no token from the environment running the tests.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("CAMPAIGNCTL_API_URL", raising=False)
    monkeypatch.delenv("CAMPAIGNCTL_TOKEN", raising=False)
    return CliRunner()


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(app, ["campaigns", "start"]).exit_code == 2
    assert runner.invoke(app, ["campaigns", "frobnicate"]).exit_code == 2
    both = ["campaigns", "create", "--name", "n", "--message", "m", "--content-sid", "HX1"]
    assert runner.invoke(app, [*both, "--contact", "c"]).exit_code == 2
    no_audience = ["campaigns", "create", "--name", "n", "--message", "m"]
    assert runner.invoke(app, no_audience).exit_code == 2


def test_an_unreachable_api_exits_1_with_one_line(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["--api-url", url, "campaigns", "list"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the API at {url}")


def test_a_broken_csv_is_refused_before_anything_is_sent(runner: CliRunner, tmp_path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("name\nAna\n")
    url = f"http://127.0.0.1:{free_port()}"
    args = ["--api-url", url, "campaigns", "create", "--name", "n", "--message", "m"]
    result = runner.invoke(app, [*args, "--contacts-csv", str(csv_file)])
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        f"error: {csv_file}: the header row needs a 'phone' column",
    )


def test_json_output_is_one_document(runner: CliRunner, monkeypatch) -> None:
    listing = {"campaigns": [], "total": 0, "page": 1, "limit": 20}
    monkeypatch.setattr(ApiClient, "campaigns", lambda self, page, limit: listing)
    for args in (["--json", "campaigns", "list"], ["campaigns", "list", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert json.loads(result.stdout) == listing


def test_login_saves_nothing_when_the_api_cannot_be_reached(runner: CliRunner, tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["login", "--api-url", url], input="a-token\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: cannot reach the API")
    assert not (tmp_path / "campaignctl").exists()


def test_flags_are_shown_as_flags_in_help(runner: CliRunner) -> None:
    for args in (["--help"], ["campaigns", "list", "--help"], ["campaigns", "create", "--help"],
                 ["suppressions", "remove", "--help"]):  # fmt: skip
        shown = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert shown.exit_code == 0, shown.output
        assert "--json" in shown.output and "<bool>" not in shown.output, args
