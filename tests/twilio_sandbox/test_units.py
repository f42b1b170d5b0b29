"""Pure logic, no I/O: window maths, signatures, fault decisions, list filters, dates."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from twilio.request_validator import RequestValidator

from services.twilio_sandbox.callbacks import twilio_signature
from services.twilio_sandbox.faults import (
    DEFAULT_PERMANENT_ERRORS,
    FaultConfig,
    FaultUpdate,
    apply_update,
    injected_failure,
    latency_s,
    match_permanent_error,
)
from services.twilio_sandbox.messages import rfc2822
from services.twilio_sandbox.paging import InvalidListQuery, parse_filters, parse_page_size
from services.twilio_sandbox.rate_window import SlidingWindowLimiter

SECOND_NS = 1_000_000_000
T0_NS = 1_700_000_000 * SECOND_NS


class TestSlidingWindow:
    def test_limit_reached_within_one_second(self) -> None:
        limiter = SlidingWindowLimiter()
        decisions = [limiter.try_acquire("A", T0_NS + i, 3) for i in range(4)]

        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[3].retry_after_s == 1

    def test_window_is_half_open_at_exactly_one_second(self) -> None:
        limiter = SlidingWindowLimiter()
        limiter.try_acquire("A", T0_NS, 1)

        assert not limiter.try_acquire("A", T0_NS + SECOND_NS - 1, 1).allowed
        assert limiter.try_acquire("A", T0_NS + SECOND_NS, 1).allowed

    def test_rejections_do_not_count(self) -> None:
        limiter = SlidingWindowLimiter()
        limiter.try_acquire("A", T0_NS, 1)
        for offset_ns in range(1, SECOND_NS, SECOND_NS // 10):
            assert not limiter.try_acquire("A", T0_NS + offset_ns, 1).allowed

        assert limiter.try_acquire("A", T0_NS + SECOND_NS, 1).allowed

    def test_senders_are_independent(self) -> None:
        limiter = SlidingWindowLimiter()
        assert limiter.try_acquire("A", T0_NS, 1).allowed

        assert not limiter.try_acquire("A", T0_NS + 1, 1).allowed
        assert limiter.try_acquire("B", T0_NS + 1, 1).allowed

    def test_clear_forgets_history(self) -> None:
        limiter = SlidingWindowLimiter()
        limiter.try_acquire("A", T0_NS, 1)
        limiter.clear()

        assert limiter.try_acquire("A", T0_NS + 1, 1).allowed

    def test_lowered_limit_waits_for_enough_expiries(self) -> None:
        limiter = SlidingWindowLimiter()
        for i in range(4):
            limiter.try_acquire("A", T0_NS + i * 100_000_000, 10)

        decision = limiter.try_acquire("A", T0_NS + 500_000_000, 2)
        # Two of the four (at 0 and 100 ms) must expire: the second one expires at 1.2 s.
        assert not decision.allowed
        assert decision.retry_after_s == 1
        assert not limiter.try_acquire("A", T0_NS + SECOND_NS + 100_000_000, 2).allowed
        assert limiter.try_acquire("A", T0_NS + SECOND_NS + 200_000_000, 2).allowed

    def test_retry_after_rounds_up_to_whole_seconds(self) -> None:
        limiter = SlidingWindowLimiter()
        limiter.try_acquire("A", T0_NS, 1)

        assert limiter.try_acquire("A", T0_NS + 1, 1).retry_after_s == 1

    @pytest.mark.parametrize("seed", range(5))
    def test_random_arrivals_never_exceed_limit_in_any_window(self, seed: int) -> None:
        rng = random.Random(seed)
        limit = rng.randint(1, 10)
        limiter = SlidingWindowLimiter()
        now_ns = T0_NS
        accepted: list[int] = []
        rejected: list[int] = []
        for _ in range(3000):
            now_ns += rng.randint(0, 60_000_000)
            if limiter.try_acquire("A", now_ns, limit).allowed:
                accepted.append(now_ns)
            else:
                rejected.append(now_ns)

        assert len(accepted) > limit
        assert rejected
        for earlier, later in zip(accepted, accepted[limit:], strict=False):
            assert later - earlier >= SECOND_NS
        # Exact, not merely safe: a request is refused only when its window is really full.
        for refused_ns in rejected:
            in_window = bisect_right(accepted, refused_ns) - bisect_right(
                accepted, refused_ns - SECOND_NS
            )
            assert in_window >= limit


class TestSignature:
    URL = "https://example.test/twilio/status?campaign=c-1"
    PARAMS: ClassVar[dict[str, str]] = {
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "delivered",
        "To": "whatsapp:+15550001111",
        "From": "whatsapp:+15550002222",
        "ApiVersion": "2010-04-01",
    }

    def test_matches_official_validator(self) -> None:
        signature = twilio_signature("token-1", self.URL, self.PARAMS)

        assert signature == RequestValidator("token-1").compute_signature(self.URL, self.PARAMS)
        assert RequestValidator("token-1").validate(self.URL, self.PARAMS, signature)

    def test_independent_of_parameter_order(self) -> None:
        reversed_params = dict(reversed(list(self.PARAMS.items())))

        assert twilio_signature("t", self.URL, self.PARAMS) == twilio_signature(
            "t", self.URL, reversed_params
        )

    def test_depends_on_token_url_and_values(self) -> None:
        base = twilio_signature("t", self.URL, self.PARAMS)

        assert twilio_signature("u", self.URL, self.PARAMS) != base
        assert twilio_signature("t", self.URL + "&x=1", self.PARAMS) != base
        assert twilio_signature("t", self.URL, {**self.PARAMS, "MessageStatus": "failed"}) != base


class TestFaultDecisions:
    def test_no_faults_by_default(self) -> None:
        assert injected_failure(FaultConfig(), 0, 0.0, 0.0) is None

    def test_outage_wins_and_reports_remaining_seconds(self) -> None:
        config = FaultConfig(outage_until_ms=10_500, error_rate=1.0)

        failure = injected_failure(config, 9_000, 0.0, 0.0)

        assert (failure.http_status, failure.code, failure.retry_after_s) == (503, 20503, 2)
        assert injected_failure(config.model_copy(update={"error_rate": 0}), 10_500, 0, 0) is None

    def test_rates_compare_against_draws(self) -> None:
        config = FaultConfig(error_rate=0.25, force_429_rate=0.5)

        assert injected_failure(config, 0, 0.2, 0.9).http_status == 500
        assert injected_failure(config, 0, 0.3, 0.4).http_status == 429
        assert injected_failure(config, 0, 0.3, 0.6) is None

    def test_latency_adds_scaled_jitter(self) -> None:
        config = FaultConfig(latency_ms=100, latency_jitter_ms=50)

        assert latency_s(config, 0.0) == pytest.approx(0.1)
        assert latency_s(config, 0.5) == pytest.approx(0.125)

    @pytest.mark.parametrize(
        ("to", "expected"),
        [
            ("whatsapp:+15550000000", (21211, "sync")),
            ("+15550000001", (21610, "sync")),
            ("whatsapp:+15550000002", (63016, "async")),
            ("whatsapp:+15550000005", (30007, "async")),
            ("whatsapp:+15550000009", None),
        ],
    )
    def test_permanent_errors_match_last_digits(self, to: str, expected) -> None:
        rule = match_permanent_error(DEFAULT_PERMANENT_ERRORS, to)

        assert (None if rule is None else (rule.code, rule.mode)) == expected

    def test_async_final_status_by_code(self) -> None:
        statuses = {r.code: r.async_final_status() for r in DEFAULT_PERMANENT_ERRORS}

        assert (statuses[63016], statuses[63024], statuses[30007]) == (
            "failed",
            "failed",
            "undelivered",
        )

    def test_update_changes_only_given_fields_and_converts_outage_s(self) -> None:
        current = FaultConfig(mps=7, error_rate=0.1)

        updated = apply_update(current, FaultUpdate(outage_s=2.5, mps=3), now_ms=1_000)
        ended = apply_update(updated, FaultUpdate.model_validate({"outage_until_ms": None}), 0)

        assert (updated.mps, updated.error_rate, updated.outage_until_ms) == (3, 0.1, 3_500)
        assert ended.outage_until_ms is None
        assert ended.mps == 3


class TestListFilters:
    def test_date_sent_means_the_whole_day_even_as_datetime(self) -> None:
        day_start_s = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())

        for raw in ("2026-11-25", "2026-11-25T00:00:00Z", "2026-11-25T13:45:00Z"):
            filters = parse_filters({"DateSent": raw})
            assert (filters.min_sent_s, filters.max_sent_s) == (day_start_s, day_start_s + 86_399)

    def test_before_and_after_are_inclusive(self) -> None:
        day_start_s = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())

        by_day = parse_filters({"DateSent<": "2026-11-25", "DateSent>": "2026-11-24"})
        by_moment = parse_filters({"DateSent<": "2026-11-25T10:00:00Z"})

        assert by_day.max_sent_s == day_start_s + 86_399
        assert by_day.min_sent_s == day_start_s - 86_400
        assert by_moment.max_sent_s == day_start_s + 36_000

    def test_invalid_values_are_rejected(self) -> None:
        with pytest.raises(InvalidListQuery):
            parse_filters({"DateSent": "yesterday"})
        with pytest.raises(InvalidListQuery):
            parse_page_size("0")
        assert parse_page_size("5000") == 1000


def test_rfc2822_matches_twilio_format() -> None:
    assert rfc2822(0) == "Thu, 01 Jan 1970 00:00:00 +0000"
    moment = datetime(2026, 11, 25, 9, 31, 21, tzinfo=UTC)
    assert rfc2822(int(moment.timestamp())) == "Wed, 25 Nov 2026 09:31:21 +0000"
