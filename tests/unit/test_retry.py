"""The one backoff (shared/retry.py) and the one error summary (shared/outages.py)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from shared.outages import MAX_REASON_CHARS, summarise
from shared.retry import MAX_EXPONENT, Backoff, retry_delay_ms, sleep_unless


def test_without_jitter_the_wait_doubles_up_to_the_cap() -> None:
    delays = [
        retry_delay_ms(n, base_delay_ms=100, max_delay_ms=1_000, jitter="none") for n in range(1, 7)
    ]
    assert delays == [100, 200, 400, 800, 1_000, 1_000]


@pytest.mark.parametrize(
    ("jitter", "draw", "expected"),
    [
        ("half", 0.0, 200),
        ("half", 0.5, 300),
        ("full", 0.0, 0),
        ("full", 0.5, 200),
        ("none", 0.9, 400),
    ],
)
def test_jitter_spreads_the_wait_below_its_ceiling(jitter, draw, expected) -> None:
    delay = retry_delay_ms(3, base_delay_ms=100, max_delay_ms=1_000, jitter=jitter, draw=draw)
    assert delay == expected


def test_half_jitter_never_waits_less_than_half_nor_more_than_the_ceiling() -> None:
    delays = {retry_delay_ms(3, base_delay_ms=100, max_delay_ms=1_000) for _ in range(200)}
    assert all(200 <= delay <= 400 for delay in delays)
    assert len(delays) > 1  # drawn, not fixed


def test_a_retry_after_is_a_floor_whatever_the_jitter() -> None:
    for jitter in ("none", "half", "full"):
        delay = retry_delay_ms(
            1, base_delay_ms=100, max_delay_ms=1_000, jitter=jitter, retry_after_s=3, draw=0
        )
        assert delay == 3_000


def test_a_loop_failing_for_hours_stays_at_the_cap() -> None:
    delay = retry_delay_ms(10_000, base_delay_ms=0.2, max_delay_ms=5_000, jitter="none")
    assert delay == 5_000
    assert MAX_EXPONENT < 10_000


def test_a_fixed_policy_waits_the_same_every_time() -> None:
    backoff = Backoff.fixed(1_000)
    assert [backoff.delay_s(n) for n in (1, 2, 5)] == [1.0, 1.0, 1.0]


def test_a_policy_gives_seconds_and_serves_as_tenacity_wait() -> None:
    backoff = Backoff(base_delay_ms=200, max_delay_ms=5_000, jitter="none")
    assert backoff.delay_s(2) == 0.4
    wait = backoff.tenacity_wait()
    waits = [wait(SimpleNamespace(attempt_number=n)) for n in range(1, 8)]
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


async def test_sleep_unless_ends_early_when_its_event_is_set() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    await sleep_unless(stop, 10)
    assert time.monotonic() - started < 5
    started = time.monotonic()
    await sleep_unless(asyncio.Event(), 0.05)
    assert time.monotonic() - started >= 0.04


def test_an_error_summary_is_one_line_with_its_type() -> None:
    assert summarise(ValueError("bad\n  data")) == "ValueError: bad data"


def test_a_long_error_summary_is_cut_with_an_ellipsis() -> None:
    summary = summarise(ValueError("x" * 5_000))
    assert len(summary) == MAX_REASON_CHARS
    assert summary.endswith("…")
    assert len(summarise(ValueError("x" * 50), limit=20)) == 20
