"""Each of the four alerts, caused on the running system and cleared when the cause ends."""

from __future__ import annotations

import asyncio
import json

from shared.events.models import AlertCleared, AlertRaised
from shared.topics import Topics
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    start,
    valid_phone,
    wait_finished,
)
from tests.helpers import eventually_sync
from tests.kafka_io import reading

ALL = {"queue_saturated", "failure_rate_high", "processing_time_high", "circuit_breaker_open"}
# Thresholds low and windows short, so that a test can cause and outlast each condition.
QUICK_ALERTS = {
    "alert_interval_s": 0.3,
    "alert_window_s": 3,
    "alert_min_outcomes": 5,
    "alert_failure_rate": 0.2,
    "alert_processing_time_ms": 150,
    "alert_queue_lag": 5,
    "consumer_lag_cache_s": 0.3,
    "commands_per_record": 1,
    "breaker_fail_max": 3,
    "breaker_reset_s": 3,
    "heartbeat_interval_s": 1,
}


def test_each_alert_is_raised_by_its_cause_and_cleared_after(
    make_system, make_settings, sandbox_admin
):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=0, **QUICK_ALERTS, **FAST)
    seen_raised: set[str] = set()

    def active() -> set[str]:
        with system.client() as client:
            alerts = client.get("/api/dashboard/alerts").json()["alerts"]
            names = {a["name"] for a in alerts}
        seen_raised.update(names)
        return names

    def raised(name: str) -> None:
        eventually_sync(lambda: name in active(), timeout_s=30, what=f"{name} raised")

    def cleared(name: str) -> None:
        eventually_sync(lambda: name not in active(), timeout_s=30, what=f"{name} cleared")

    with system.client() as client:
        # No sender yet: the commands pile up. 10 of 40 numbers are invalid: 25% fail.
        phones = [valid_phone(i) for i in range(30)] + [invalid_phone(i) for i in range(10)]
        first = create_campaign(client, "backlog", phones)
        start(client, first["id"])
        raised("queue_saturated")
        system.start_extra("sender-0")
        cleared("queue_saturated")
        wait_finished(client, first["id"], timeout_s=60)
        raised("failure_rate_high")
        cleared("failure_rate_high")  # the window passes with no failure in it

        sandbox_admin.post("/_sandbox/faults", json={"latency_ms": 400}).raise_for_status()
        # Request times are kept in 10 s buckets, so the window may also hold the first
        # campaign's 40 quick calls: enough slow ones to lift the average over them.
        slow = create_campaign(client, "slow", [valid_phone(i) for i in range(100, 160)])
        start(client, slow["id"])
        raised("processing_time_high")
        sandbox_admin.post("/_sandbox/faults", json={"latency_ms": 0}).raise_for_status()
        wait_finished(client, slow["id"], timeout_s=60)
        cleared("processing_time_high")

        sandbox_admin.post("/_sandbox/faults", json={"outage_s": 3}).raise_for_status()
        down = create_campaign(client, "outage", [valid_phone(i) for i in range(200, 220)])
        start(client, down["id"])
        raised("circuit_breaker_open")
        wait_finished(client, down["id"], timeout_s=60)
        cleared("circuit_breaker_open")

    settings = make_settings()

    async def published() -> list:
        async with reading(settings, Topics.from_settings(settings).alerts) as alerts:
            return await alerts.until(
                lambda events: {e.name for e in events if isinstance(e, AlertCleared)} >= ALL,
                what="every alert raised and cleared on the alerts topic",
            )

    events = asyncio.run(published())
    assert seen_raised == ALL
    assert {e.name for e in events if isinstance(e, AlertRaised)} == ALL
    api_log = system.table.get("api").log.read_text().splitlines()
    logged = {
        json.loads(line).get("alert")
        for line in api_log
        if line.startswith("{") and '"alert raised"' in line
    }
    assert logged == ALL
