"""Which rows a poll batch of results becomes in the recipients table (pure logic of
services/metrics/fold.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.metrics.fold import recipient_outcomes
from shared.events.models import (
    MessageDeferred,
    MessageFailed,
    MessagesCancelled,
    MessageSent,
    MessageSkipped,
)

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _common(position: int | None) -> dict[str, object]:
    return {
        "campaign_id": "c",
        "contact_id": f"k{position}",
        "to": "whatsapp:+1",
        "position": position,
        "occurred_at": AT,
    }


def test_each_terminal_result_becomes_its_recipients_row() -> None:
    rows = recipient_outcomes(
        [
            MessageSent(message_sid="SM1", **_common(1)),
            MessageFailed(error_code=63016, error_message="x" * 500, **_common(2)),
            MessageSkipped(reason="duplicate", **_common(3)),
            MessageDeferred(reason="paused", **_common(4)),  # still on its way: no row
        ]
    )
    assert [(r.position, r.state, r.message_sid, r.error_code) for r in rows] == [
        (1, "sent", "SM1", None),
        (2, "failed", None, 63016),
        (3, "skipped", None, None),
    ]
    assert len(rows[1].reason or "") == 300  # a failure's words, bounded
    assert rows[2].reason == "duplicate"
    assert {r.at for r in rows} == {AT}


def test_a_cancelled_batch_covers_its_positions_in_order() -> None:
    rows = recipient_outcomes(
        [
            MessagesCancelled(
                campaign_id="c",
                batch_index=5,
                contact_ids=["a", "b", "c"],
                reason="expired",
                first_position=500,
                occurred_at=AT,
            )
        ]
    )
    assert [(r.position, r.state, r.reason) for r in rows] == [
        (500, "expired", "expired"),
        (501, "expired", "expired"),
        (502, "expired", "expired"),
    ]


def test_results_without_a_position_have_no_row() -> None:
    old = MessagesCancelled(campaign_id="c", batch_index=0, contact_ids=["a"], occurred_at=AT)
    assert recipient_outcomes([MessageSent(message_sid="SM", **_common(None)), old]) == []
