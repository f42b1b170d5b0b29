import pytest
from pydantic import ValidationError

from shared.settings import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_DEFAULT_URL,
    Settings,
    describe_error,
)

SETTINGS_VARIABLES = (
    "REDIS_URL",
    "REDISCLOUD_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "BATCH_SIZE",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_original_systems() -> None:
    settings = Settings()
    assert (settings.batch_size, settings.max_concurrent_batches) == (500, 10)
    assert (settings.batch_retry_attempts, settings.batch_retry_delay_ms) == (3, 1000)
    assert (
        settings.twilio_rate_limit_per_second,
        settings.twilio_rate_limit_per_minute,
        settings.twilio_rate_limit_per_hour,
        settings.twilio_max_concurrent,
    ) == (10, 600, 36_000, 50)
    assert settings.message_commands_partitions == 24


def test_redis_url_falls_back_to_rediscloud_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDISCLOUD_URL", "redis://cloud.example:1234/0")
    assert Settings().redis_url == "redis://cloud.example:1234/0"
    monkeypatch.setenv("REDIS_URL", "redis://primary:6379/1")
    assert Settings().redis_url == "redis://primary:6379/1"


def test_without_credentials_the_sandbox_is_used() -> None:
    settings = Settings()
    assert settings.uses_twilio_sandbox
    assert settings.twilio_credentials == (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)
    assert settings.twilio_base_url == SANDBOX_DEFAULT_URL


def test_with_credentials_twilio_itself_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-token")
    settings = Settings()
    assert settings.twilio_credentials == ("AC" + "1" * 32, "real-token")
    assert settings.twilio_base_url is None
    assert "real-token" not in repr(settings)


def _error_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return describe_error(caught.value, Settings)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BATCH_SIZE", "abc", "BATCH_SIZE: Input should be a valid integer"),
        ("BATCH_SIZE", "0", "BATCH_SIZE: Input should be greater than 0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost", "KAFKA_BOOTSTRAP_SERVERS: expected host:port"),
        ("REDISCLOUD_URL", "http://x", "REDIS_URL or REDISCLOUD_URL: expected a redis://"),
        ("TWILIO_ACCOUNT_SID", "AC1", "TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    line = _error_line(monkeypatch, variable, value)
    assert "\n" not in line
    assert line.startswith("configuration error: ")
    assert expected in line


def test_a_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _error_line(monkeypatch, "REDIS_URL", "http://user:hunter2@cache:6379")
    assert "hunter2" not in line
    assert "REDIS_URL" in line
