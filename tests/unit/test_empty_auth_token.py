"""Real Twilio with an empty Auth Token would let anyone sign webhooks: no service starts."""

from __future__ import annotations

import pytest

from services.api.settings import ApiSettings
from shared.settings import SANDBOX_AUTH_TOKEN, Settings, load_settings

REAL_ACCOUNT_SID = "AC" + "1" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("model", [Settings, ApiSettings])
@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_auth_token_with_real_twilio_stops_the_service(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    model: type[Settings],
    token: str,
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", REAL_ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", token)
    with pytest.raises(SystemExit) as stopped:
        load_settings(model)
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("configuration error: TWILIO_AUTH_TOKEN: required")


def test_the_sandbox_needs_no_auth_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    settings = load_settings(Settings)
    assert settings.uses_twilio_sandbox
    assert settings.twilio_credentials[1] == SANDBOX_AUTH_TOKEN
