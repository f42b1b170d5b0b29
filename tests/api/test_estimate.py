"""Estimated send time under weighted sharing of the rate."""

import pytest

from services.api.estimate import time_to_send_ms


def test_alone_a_campaign_gets_the_whole_rate() -> None:
    assert time_to_send_ms(100, 2, [], rate_per_s=10) == 10_000


def test_equal_weights_share_until_the_smaller_finishes() -> None:
    # 100 each at 5/s: both done after 20 s.
    assert time_to_send_ms(100, 2, [(100, 2)], rate_per_s=10) == 20_000
    # 50 of the other's go at 5/s (10 s, 50 of ours too), then ours alone: 50 at 10/s.
    assert time_to_send_ms(100, 2, [(50, 2)], rate_per_s=10) == 15_000


def test_a_high_priority_campaign_barely_waits_for_a_big_normal_one() -> None:
    # 100 urgent contacts at 4/6 of 100/s beside 20,000 normal ones.
    assert time_to_send_ms(100, 4, [(20_000, 2)], rate_per_s=100) == 1_500
    # The other way round, the normal one waits only for the urgent one's share.
    assert time_to_send_ms(20_000, 2, [(100, 4)], rate_per_s=100) == pytest.approx(201_000, abs=1)


def test_finished_and_empty_campaigns_take_nothing() -> None:
    assert time_to_send_ms(0, 2, [(10, 2)], rate_per_s=10) == 0
    assert time_to_send_ms(10, 2, [(0, 2)], rate_per_s=10) == 1_000
