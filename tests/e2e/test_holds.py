"""What the dispatcher holds back: a sender's messaging tier, and closed send windows.

Both depend on days and hours no test can wait for: the dispatcher's clock is
adjustable here (CLOCK_ADJUSTABLE), and the test moves it forward through Redis.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from shared.clock import offset_key
from shared.events.models import SendWindow
from shared.redis import Keys
from shared.send_window import window_opens_ms
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    ledger,
    start,
    valid_phone,
    wait_finished,
)
from tests.helpers import eventually_sync

DAY_S = 24 * 3600
SENDER = "+14155238886"  # the default TWILIO_WHATSAPP_NUMBER


def move_clock(system, by_ms: int) -> None:
    client = redis.Redis.from_url(system.env["REDIS_URL"])
    try:
        client.set(offset_key(Keys(system.env["REDIS_KEY_PREFIX"])), by_ms)
    finally:
        client.close()


def queue_status(client, campaign_id: str) -> dict:
    return client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]


def test_a_1k_tier_sends_to_1000_recipients_then_throttles_until_the_day_passes(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(
        **FAST,
        batch_size=200,
        whatsapp_senders=[{"number": SENDER, "mps": 100_000, "tier": "1K"}],
        clock_adjustable=True,
    )
    phones = [valid_phone(i) for i in range(1_500)]
    with system.client() as client:
        campaign = create_campaign(client, "tiered", phones)
        began_ms = int(time.time() * 1000)
        start(client, campaign["id"])

        def throttled() -> dict | None:
            status = queue_status(client, campaign["id"])
            settled = status["progress"]["processed"] == 1_000
            return status if status["status"] == "throttled" and settled else None

        status = eventually_sync(throttled, timeout_s=120, what="throttled after 1,000")
        assert len({m["to"] for m in ledger(sandbox_admin)}) == 1_000
        resumes_ms = datetime.fromisoformat(status["throttledUntil"]).timestamp() * 1000
        assert began_ms + DAY_S * 1000 <= resumes_ms <= time.time() * 1000 + DAY_S * 1000
        assert status["metrics"]["waiting"]["tier"] > 0
        listed = client.get(f"/api/campaigns/{campaign['id']}").json()
        assert listed["status"] == "throttled" and listed["throttledUntil"]

        move_clock(system, DAY_S * 1000 + 60_000)
        done = wait_finished(client, campaign["id"], timeout_s=120)
    assert done["progress"]["success"] == 1_500
    assert len({m["to"] for m in ledger(sandbox_admin)}) == 1_500


def test_a_closed_send_window_holds_exactly_the_recipients_in_that_zone(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST, clock_adjustable=True)
    # Open now in Los Angeles; Tokyo, 17 hours ahead, is far outside three hours.
    los_angeles = datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles"))
    window = SendWindow(
        start=f"{(los_angeles - timedelta(hours=1)).hour:02d}:00",
        end=f"{(los_angeles + timedelta(hours=2)).hour:02d}:00",
    )
    californians = [f"+1415555{2000 + i}" for i in range(6)]
    japanese = [f"+819012{345000 + i}" for i in range(4)]
    with system.client() as client:
        campaign = create_campaign(
            client, "windowed", californians + japanese, sendWindow=window.model_dump()
        )
        assert campaign["sendWindow"] == {
            "start": window.start,
            "end": window.end,
            "timezone": "UTC",
        }
        started = start(client, campaign["id"])
        opens_ms = window_opens_ms(window, japanese[0], {}, int(time.time() * 1000))
        assert started["estimatedTime"] >= opens_ms - time.time() * 1000 - 60_000

        def californians_sent() -> dict | None:
            status = queue_status(client, campaign["id"])
            return status if status["progress"]["processed"] == len(californians) else None

        status = eventually_sync(californians_sent, timeout_s=60, what="the open zone sent")
        assert status["metrics"]["waiting"]["sendWindow"] == len(japanese)
        assert status["status"] == "sending"
        assert sorted(m["to"] for m in ledger(sandbox_admin)) == sorted(
            f"whatsapp:{phone}" for phone in californians
        )

        move_clock(system, opens_ms - int(time.time() * 1000) + 60_000)
        done = wait_finished(client, campaign["id"], timeout_s=60)
    assert done["progress"]["success"] == len(californians) + len(japanese)
    assert done["metrics"]["waiting"]["sendWindow"] == 0


def test_stopping_a_campaign_cancels_what_it_holds(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    # A one-minute window twelve hours from now in UTC: eleven or twelve hours away for
    # these Spanish numbers (the mainland or the Canaries), so closed now.
    opens = datetime.now(UTC) + timedelta(hours=12)
    closes = opens + timedelta(minutes=1)
    window = {"start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}", "timezone": "UTC"}
    phones = [valid_phone(i) for i in range(5)]
    with system.client() as client:
        campaign = create_campaign(client, "held then stopped", phones, sendWindow=window)
        start(client, campaign["id"])
        eventually_sync(
            lambda: queue_status(client, campaign["id"])["metrics"]["waiting"]["sendWindow"] == 5,
            timeout_s=30,
            what="all five held",
        )
        client.post(f"/api/campaigns/{campaign['id']}/queue-stop").raise_for_status()

        def ended() -> dict | None:
            status = queue_status(client, campaign["id"])
            return status if status["account"]["waiting"] == 0 else None

        status = eventually_sync(ended, timeout_s=30, what="the held contacts cancelled")
    assert status["status"] == "stopped"
    assert status["metrics"]["cancelled"] == 5
    assert status["metrics"]["waiting"]["sendWindow"] == 0
    assert ledger(sandbox_admin) == []
