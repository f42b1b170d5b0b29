"""Twilio down for 90 s mid-campaign: the breakers open, calls stop, nothing fails for it."""

from __future__ import annotations

import time

from devstack.system import ADMIN_TOKEN
from shared.settings import Settings
from tests.faults.harness import INVALID, PACED, VALID, FaultRun
from tests.helpers import eventually_sync

OUTAGE_S = 90
BREAKER_FAIL_MAX = 10
# Half the default's 60 s: the first trial after the outage comes about 30 s sooner,
# and the two trials inside it are still within the bound on calls asserted below.
BREAKER_RESET_S = 30
MAX_CONCURRENT = Settings.model_fields["twilio_max_concurrent"].default


def _answers(sandbox, status: int) -> int:
    return int(sandbox.get("/_sandbox/stats").json()["responses"].get(str(status), 0))


def test_a_twilio_outage_of_ninety_seconds(make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(
        sender_replicas=2,
        breaker_fail_max=BREAKER_FAIL_MAX,
        breaker_reset_s=BREAKER_RESET_S,
        **PACED,
    )
    run = FaultRun(system, sandbox_admin, "twilio outage")
    run.wait_sent(VALID // 4)
    unavailable_before = _answers(sandbox_admin, 503)
    sandbox_admin.post("/_sandbox/faults", json={"outage_s": OUTAGE_S}).raise_for_status()
    outage_began = time.monotonic()

    def system_metrics() -> dict:
        with system.client(ADMIN_TOKEN) as client:  # the system part is for admins
            metrics = client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]
        return metrics["system"]

    opened = eventually_sync(
        lambda: (m := system_metrics()) and set(m["circuitBreakers"].values()) == {"open"} and m,
        timeout_s=30,
        what="both replicas' breakers open",
    )
    opened_after_s = time.monotonic() - outage_began
    # The campaign shows why it stands still.
    assert run.status()["circuitBreaker"] == "open"
    outcome = run.finish(timeout_s=OUTAGE_S + 240)
    refused = _answers(sandbox_admin, 503) - unavailable_before
    fault_table.record(
        f"Twilio unavailable (503) for {OUTAGE_S} s mid-campaign",
        f"both breakers open {opened_after_s:.1f} s in; {refused} calls reached Twilio during "
        "the outage in all (the calls in flight, the failures that opened the breakers, the "
        f"half-open trials every {BREAKER_RESET_S} s); messages waited without spending "
        "attempts and went after it",
        outcome,
    )
    assert len(opened["circuitBreakers"]) == 2 and opened["circuitBreaker"] == "open"
    assert outcome.status.get("circuitBreaker") is None  # finished: no longer running
    # Without the breaker every waiting message would keep calling: thousands of 503s.
    assert refused <= 2 * (BREAKER_FAIL_MAX + MAX_CONCURRENT + 3), refused
    assert (outcome.lost, outcome.duplicates) == (0, 0)
    assert outcome.status["progress"]["failed"] == INVALID
