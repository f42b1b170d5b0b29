"""The funnel's rule: a message only moves forward, and failures are final."""

from __future__ import annotations

import itertools

import pytest

from shared.store.funnel import Funnel, advance, state_of


def furthest(receipts: list[str]) -> str | None:
    state: str | None = None
    for receipt in receipts:
        state = advance(state, receipt) or state
    return state


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("accepted", "queued"),
        ("queued", "queued"),
        ("sending", "queued"),
        ("SENT", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("failed", "failed"),
        ("undelivered", "undelivered"),
        ("canceled", None),
        ("receiving", None),
        ("something-new", None),
    ],
)
def test_twilio_statuses_map_to_funnel_states(status: str, state: str | None) -> None:
    assert state_of(status) == state


def test_states_move_forward() -> None:
    assert advance(None, "queued") == "queued"
    assert advance("queued", "sent") == "sent"
    assert advance("sent", "delivered") == "delivered"
    assert advance("delivered", "read") == "read"
    assert advance("sent", "read") == "read"  # a skipped step is fine


def test_late_or_repeated_receipts_change_nothing() -> None:
    assert advance("read", "sent") is None
    assert advance("read", "delivered") is None
    assert advance("delivered", "delivered") is None
    assert advance("sent", "queued") is None


def test_failures_are_final() -> None:
    assert advance("queued", "failed") == "failed"
    assert advance("sent", "undelivered") == "undelivered"
    for later in ("queued", "sent", "delivered", "read", "undelivered", "failed"):
        assert advance("failed", later) is None
        assert advance("undelivered", later) is None


def test_a_failure_after_delivery_is_ignored() -> None:
    assert advance("delivered", "undelivered") is None
    assert advance("read", "failed") is None


def test_any_order_of_a_path_ends_at_its_furthest_state() -> None:
    for order in itertools.permutations(["queued", "sent", "delivered", "read"]):
        assert furthest(list(order)) == "read", order
    for order in itertools.permutations(["queued", "sent", "undelivered"]):
        assert furthest(list(order)) == "undelivered", order


def test_the_cumulative_view() -> None:
    funnel = Funnel(
        current={"queued": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5, "undelivered": 6},
        errors={"failed": {"63016": 5}},
    )
    assert funnel.read == 4
    assert funnel.delivered == 3 + 4
    assert funnel.undelivered == 6
    assert funnel.sent == 2 + 3 + 4 + 6
    assert funnel.failed == 5
    assert Funnel().sent == 0
