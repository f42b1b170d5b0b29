"""Sender numbers, pools and their limits, from settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.senders import RateLimits, SenderDirectory, SenderNumber
from shared.settings import Settings

DEFAULTS = RateLimits(10, 600, 36_000)
POOL_SID = "MG" + "a" * 32
POOL = ["+14155550100", "+14155550101", "+14155550102"]


def directory() -> SenderDirectory:
    return SenderDirectory(
        [
            SenderNumber(number="whatsapp:+14155550100", mps=80, tier="1K"),
            SenderNumber(number="+14155550101", per_minute=300),
        ],
        {POOL_SID: POOL},
        DEFAULTS,
    )


def test_a_configured_number_has_its_own_rate_and_tier() -> None:
    senders = directory()
    assert senders.limits("whatsapp:+14155550100") == RateLimits(80, 4_800, 288_000)
    assert senders.tier_limit("+14155550100") == 1_000
    assert senders.limits("+14155550101") == RateLimits(10, 300, 36_000)
    assert senders.tier_limit("+14155550101") is None


def test_an_unknown_number_keeps_the_defaults() -> None:
    assert directory().limits("+14155559999") == DEFAULTS
    assert directory().tier_limit("+14155559999") is None


def test_a_recipient_always_gets_the_same_number_of_a_pool() -> None:
    senders = directory()
    pool = senders.pool(POOL_SID)
    assert pool == tuple(POOL)
    recipients = [f"+3461200{i:04d}" for i in range(300)]
    first = [senders.choose(pool, r) for r in recipients]
    assert first == [senders.choose(pool, f"whatsapp:{r}") for r in recipients]
    used = {number: first.count(number) for number in POOL}
    assert all(count > 60 for count in used.values()), used  # spread over the whole pool


def test_settings_read_senders_and_pools_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_SENDERS", '[{"number": "+14155550100", "mps": 5}]')
    monkeypatch.setenv("MESSAGING_SERVICES", f'{{"{POOL_SID}": ["+14155550100"]}}')
    settings = Settings()
    assert settings.sender_directory.limits("+14155550100").per_second == 5
    assert settings.sender_directory.pool(POOL_SID) == ("+14155550100",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WHATSAPP_SENDERS", '[{"number": "14155550100"}]'),
        ("WHATSAPP_SENDERS", '[{"number": "+14155550100", "tier": "2K"}]'),
        ("MESSAGING_SERVICES", '{"MG123": ["+14155550100"]}'),
        ("MESSAGING_SERVICES", f'{{"{POOL_SID}": []}}'),
    ],
)
def test_bad_sender_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()
