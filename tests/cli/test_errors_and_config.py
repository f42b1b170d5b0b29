"""The one-line error messages and where the API URL and token come from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from campaignctl import config
from campaignctl.errors import CliError, api_error, one_line


def line(status: int, body: object, method: str = "GET", path: str = "/api/x") -> str:
    return api_error(status, body, method, path).line(with_status=True)


def test_not_found_names_the_campaign_quoted() -> None:
    body = {"detail": "campaign x y not found", "message": "campaign x y not found",
            "campaignId": "x y"}  # fmt: skip
    assert line(404, body) == "error: campaign 'x y' not found (404)"


def test_an_unknown_route_is_named_by_method_and_path() -> None:
    body = {"detail": "Not Found", "message": "Not Found"}
    assert line(404, body, "POST", "/api/nothing") == "error: not found: POST /api/nothing (404)"


def test_conflict_says_why() -> None:
    body = {
        "detail": "campaign c1: cannot pause: it is completed",
        "message": "campaign c1: cannot pause: it is completed",
        "campaignId": "c1",
        "status": "completed",
    }
    assert line(409, body) == "error: campaign 'c1': cannot pause: it is completed (409)"


def test_validation_error_is_the_apis_own_words() -> None:
    body = {
        "message": "Schedule must be in the future",
        "field": "scheduledAt",
        "detail": [
            {"type": "value_error", "loc": ["body", "scheduledAt"],
             "msg": "Value error, must be in the future", "words": "must be in the future",
             "text": "Schedule must be in the future"},
            {"type": "missing", "loc": ["body", "name"], "msg": "Field required",
             "words": "is required", "text": "Name is required"},
        ],
    }  # fmt: skip
    assert line(422, body) == "error: Schedule must be in the future (and 1 more) (422)"


def test_validation_error_of_an_older_api_names_the_field() -> None:
    body = {
        "message": "scheduledAt: Value error, must be in the future",
        "field": "scheduledAt",
        "detail": [{"type": "value_error", "loc": ["body", "scheduledAt"],
                    "msg": "Value error, must be in the future"}],
    }  # fmt: skip
    assert line(422, body) == "error: invalid scheduledAt: Value error, must be in the future (422)"


def test_validation_error_without_detail_keeps_the_message() -> None:
    assert line(422, {"message": "bad"}) == "error: invalid request: bad (422)"


def test_unauthorised_says_how_to_log_in() -> None:
    text = line(401, {"detail": "missing or invalid bearer token"})
    assert text.startswith("error: missing or invalid bearer token: run 'campaignctl login'")
    assert text.endswith("(401)")


def test_a_body_that_is_not_json_still_gives_a_line() -> None:
    assert line(502, None, "GET", "/api/campaigns") == "error: GET /api/campaigns failed (502)"


def test_messages_are_always_one_line() -> None:
    assert one_line("error: a\nb \t c\r\n") == "error: a b c"
    assert CliError("bad\nfile").line() == "error: bad file"


def test_options_beat_environment_beat_file_beat_default() -> None:
    env = {config.ENV_API_URL: "http://env:1/", config.ENV_TOKEN: "env-token"}
    stored = {"api_url": "http://file:2", "token": "file-token"}
    chosen = config.resolve("http://option:3/", "option-token", env, stored)
    assert chosen == config.Credentials("http://option:3", "option-token")
    assert config.resolve(None, None, env, stored) == config.Credentials(
        "http://env:1", "env-token"
    )
    assert config.resolve(None, None, {}, stored) == config.Credentials(
        "http://file:2", "file-token"
    )
    assert config.resolve(None, None, {}, {}) == config.Credentials(config.DEFAULT_API_URL, None)


def test_config_lives_under_xdg_config_home(tmp_path: Path) -> None:
    path = config.config_path({"XDG_CONFIG_HOME": str(tmp_path)})
    assert path == tmp_path / "campaignctl" / "config.json"
    # A relative XDG_CONFIG_HOME is invalid by the spec: the default is used.
    assert config.config_path({"XDG_CONFIG_HOME": "relative"}).is_relative_to(Path.home())


def test_saved_config_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "campaignctl" / "config.json"
    config.save(path, "http://api:8000", "secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load(path) == {"api_url": "http://api:8000", "token": "secret"}
    config.save(path, "http://other:8000", "second")
    assert config.load(path)["token"] == "second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_config_is_empty_and_a_broken_one_an_error(tmp_path: Path) -> None:
    assert config.load(tmp_path / "absent.json") == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CliError, match="cannot read the config file"):
        config.load(broken)
