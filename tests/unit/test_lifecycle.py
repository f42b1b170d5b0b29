"""The campaign lifecycle table (shared/lifecycle.py): pure checks, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared import lifecycle
from shared.events.models import CampaignPaused, CampaignResumed, CampaignStopped
from shared.lifecycle import (
    CONTROL_OF_EVENT,
    CONTROLS,
    FINAL,
    HOLDING,
    NOT_FINAL,
    NOT_STARTED,
    RUNNING,
    STATUSES,
    allowed_actions,
    has_expired,
    is_final,
    is_holding,
    move,
)

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("draft", ["start", "stop"]),
        ("scheduled", ["start", "stop"]),
        ("queued", ["pause", "stop"]),
        ("sending", ["pause", "stop"]),
        ("throttled", ["pause", "stop"]),
        ("paused", ["resume", "stop"]),
        ("stopped", []),
        ("completed", []),
        ("failed", []),
        (None, []),  # no such campaign
    ],
)
def test_allowed_actions_of_each_status(status: str | None, actions: list[str]) -> None:
    assert allowed_actions(status) == actions


def test_the_table_covers_every_status_once() -> None:
    assert len(set(STATUSES)) == len(STATUSES) == 9
    assert sorted([*NOT_STARTED, *RUNNING, *FINAL]) == sorted(STATUSES)
    assert set(NOT_FINAL) == set(STATUSES) - FINAL
    assert HOLDING <= set(RUNNING)
    # The constants spell the Literal's members, not near misses of them.
    assert [getattr(lifecycle, status.upper()) for status in STATUSES] == list(STATUSES)


def test_only_a_final_status_allows_nothing() -> None:
    for status in STATUSES:
        assert (allowed_actions(status) == []) is is_final(status), status
        assert is_final(status) or "stop" in allowed_actions(status)


def test_is_holding_and_is_final() -> None:
    assert [s for s in STATUSES if is_holding(s)] == ["throttled", "paused"]
    assert [s for s in STATUSES if is_final(s)] == ["stopped", "completed", "failed"]
    # An expired command is cancelled as expired; no campaign is ever in "expired".
    assert not is_final("expired") and not is_final(None)


def test_controls_lead_from_running_or_unstarted_statuses_to_a_known_one() -> None:
    assert set(CONTROLS) == {"pause", "resume", "stop"}
    for name, control in CONTROLS.items():
        assert control.action == name
        assert control.status in STATUSES
        assert control.allowed_from, name
        assert not FINAL & set(control.allowed_from), name
        assert control.status not in control.allowed_from, name
        # The dispatcher's mirror of the event: a no-op where the api has moved it.
        assert control.mirrored_from == (*control.allowed_from, control.status)
    assert (CONTROLS["pause"].status, CONTROLS["resume"].status) == ("paused", "sending")
    assert CONTROLS["resume"].allowed_from == ("paused",)
    assert set(CONTROLS["stop"].allowed_from) == set(NOT_FINAL)


def test_each_control_event_names_its_control() -> None:
    assert {event: control.action for event, control in CONTROL_OF_EVENT.items()} == {
        CampaignPaused: "pause",
        CampaignResumed: "resume",
        CampaignStopped: "stop",
    }


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (None, False),
        (NOW + timedelta(seconds=1), False),
        (NOW, True),
        (NOW - timedelta(microseconds=1), True),
        (datetime(2030, 1, 1, 11), True),  # naive: read as UTC
        (datetime(2030, 1, 1, 13), False),
        (datetime(2030, 1, 1, 13, tzinfo=timezone(timedelta(hours=2))), True),  # 11:00 UTC
        (datetime(2030, 1, 1, 11, tzinfo=timezone(timedelta(hours=-2))), False),  # 13:00 UTC
    ],
)
def test_has_expired_reads_any_zone(expires_at: datetime | None, expected: bool) -> None:
    assert has_expired(expires_at, NOW) is expected


class RecordingStore:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def transition(
        self, campaign_id: str, allowed: tuple[str, ...], status: str, **fields: str
    ) -> tuple[bool, str | None]:
        self.calls.append((campaign_id, allowed, status, fields))
        return True, allowed[0]


async def test_move_is_the_stores_atomic_transition() -> None:
    store = RecordingStore()
    moved = await move(store, "c1", FINAL, "failed", failure_reason="why")  # type: ignore[arg-type]
    assert moved[0] is True
    [(campaign_id, allowed, status, fields)] = store.calls
    assert (campaign_id, sorted(allowed), status, fields) == (
        "c1",
        sorted(FINAL),
        "failed",
        {"failure_reason": "why"},
    )
    assert isinstance(allowed, tuple)  # the script reads its arguments in order
