"""Expiry: no stale message is sent; what is left ends expired, and is counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.test_campaigns import create_campaign, ledger, start, valid_phone
from tests.e2e.test_control import PACED, _settled, _status
from tests.helpers import eventually_sync


def _all_counted(client, campaign_id: str, total: int) -> dict:
    def counted() -> dict | None:
        status = _status(client, campaign_id)
        account = status["account"]
        return status if account["total"] == total and account["waiting"] == 0 else None

    return eventually_sync(counted, timeout_s=60, what="every contact counted")


def test_a_campaign_that_expired_while_everything_was_down_sends_nothing(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system()
    now = datetime.now(UTC)
    due, expires = now + timedelta(seconds=4), now + timedelta(seconds=5)
    with system.client() as client:
        campaign = create_campaign(
            client,
            "stale",
            [valid_phone(i) for i in range(30)],
            scheduledAt=due.isoformat(),
            expiresAt=expires.isoformat(),
        )
    system.stop_all()
    # The subject of this test is time passing while nothing runs.
    eventually_sync(
        lambda: datetime.now(UTC) > expires, timeout_s=30, what="the expiry time passing"
    )
    system.start_all()
    with system.client() as client:
        status = _all_counted(client, campaign["id"], 30)
    assert status["metrics"]["expired"] == 30
    assert status["progress"]["success"] == 0
    assert ledger(sandbox_admin) == []


def test_a_running_campaign_stops_sending_at_its_expiry(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**PACED)
    expires = datetime.now(UTC) + timedelta(seconds=4)
    with system.client() as client:
        campaign = create_campaign(
            client,
            "short-lived",
            [valid_phone(i) for i in range(200)],
            expiresAt=expires.isoformat(),
        )
        start(client, campaign["id"])
        status = _all_counted(client, campaign["id"], 200)
        sent = _settled(sandbox_admin)

    expired = status["metrics"]["expired"]
    assert expired > 0 and status["progress"]["success"] > 0
    assert status["progress"]["success"] + expired == 200
    assert len(sent) == status["progress"]["success"]
    assert max(m["accepted_at_ms"] for m in sent) <= expires.timestamp() * 1000 + 500
