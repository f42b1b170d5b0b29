"""The limiter's reading of Redis's clock on the event loop's: the closest sample wins."""

from __future__ import annotations

from services.sender.limiter import RedisClock


def test_the_shortest_round_trip_gives_the_offset() -> None:
    clock = RedisClock()
    # Redis's clock is 5,000 s ahead; this call waited 20 ms before it was sent.
    clock.sample(redis_now_ms=5_010_020.0, sent_at=10.0, answered_at=10.021)
    clock.sample(redis_now_ms=5_011_000.3, sent_at=11.0, answered_at=11.0005)
    clock.sample(redis_now_ms=5_012_050.0, sent_at=12.0, answered_at=12.06)
    assert abs(clock.loop_time(5_020_000.0) - 20.0) < 0.001


def test_a_sample_errs_towards_a_send_looking_late() -> None:
    clock = RedisClock()
    clock.sample(redis_now_ms=1_000.4, sent_at=1.0, answered_at=1.001)
    # The moment Redis read 1,000.4 ms is placed at or before the loop's 1.0004 s.
    assert clock.loop_time(1_000.4) <= 1.0004


def test_an_old_sample_is_replaced_so_drift_never_builds_up() -> None:
    clock = RedisClock()
    clock.sample(redis_now_ms=100_000.0, sent_at=100.0, answered_at=100.0001)
    later = 100.0 + RedisClock.KEPT_S + 1
    # The clocks drifted 3 ms apart; the new sample's round trip is longer, yet it counts.
    clock.sample(redis_now_ms=later * 1000 + 3, sent_at=later, answered_at=later + 0.001)
    assert abs(clock.loop_time(200_003.0) - 200.0) < 0.0001
