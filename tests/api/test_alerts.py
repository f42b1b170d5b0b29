"""The four alert conditions, from figures alone."""

from __future__ import annotations

import pytest

from services.api.alerts import evaluate
from services.api.settings import ApiSettings
from shared.store.stats import Window

SETTINGS = ApiSettings(
    alert_failure_rate=0.1,
    alert_min_outcomes=20,
    alert_processing_time_ms=1_000,
    alert_queue_lag=100,
)


def holding(window: Window | None = None, breakers=None, lag=None) -> set[str]:
    findings = evaluate(SETTINGS, window or Window(), breakers or {}, lag)
    assert len(findings) == 4
    return {finding.name for finding in findings if finding.holds}


def test_a_quiet_system_raises_nothing() -> None:
    assert holding(breakers={"s1": "closed"}, lag={"g": {"t": 99}}) == set()


def test_one_open_breaker_is_enough() -> None:
    assert holding(breakers={"s1": "closed", "s2": "open"}) == {"circuit_breaker_open"}
    assert holding(breakers={"s1": "half_open"}) == set()


@pytest.mark.parametrize(
    ("sent", "failed", "holds"),
    [(90, 10, True), (91, 9, False), (10, 9, False)],  # the last: too few outcomes to judge
)
def test_failure_rate_over_the_window(sent: int, failed: int, holds: bool) -> None:
    assert ("failure_rate_high" in holding(Window(sent=sent, failed=failed))) is holds


def test_average_twilio_time_over_the_window() -> None:
    assert holding(Window(twilio_calls=4, twilio_total_ms=4_000)) == {"processing_time_high"}
    assert holding(Window(twilio_calls=4, twilio_total_ms=3_999)) == set()


def test_any_groups_lag_saturates() -> None:
    lag = {"sender": {"message.commands": 100}, "metrics": {"message.results": 0}}
    assert holding(lag=lag) == {"queue_saturated"}
    assert holding(lag=None) == set()  # lag unknown: no verdict
