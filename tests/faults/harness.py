"""One campaign under one fault, and the exactness checks every fault case ends with.

Each case runs a 5,000-contact campaign (4,950 valid numbers, 50 the sandbox refuses)
on two sender replicas, injects its fault mid-campaign, and then checks the sandbox's
ledger: exactly one message per valid recipient, none for an invalid one, and
queue-status counting what the ledger holds.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import httpx

from devstack.processes import is_running
from devstack.system import System
from tests.e2e.test_campaigns import create_campaign, invalid_phone, ledger, start, valid_phone
from tests.helpers import eventually_sync

VALID = 4_950
INVALID = 50
# Slow enough that a fault lands mid-campaign, fast enough for CI: about 20 s of sending.
RATE = 250
PACED = {
    "twilio_rate_limit_per_second": RATE,
    "twilio_rate_limit_per_minute": RATE * 60,
    "twilio_rate_limit_per_hour": RATE * 3600,
}


@dataclass
class FaultRow:
    fault: str
    behaviour: str
    seconds: float
    lost: int
    duplicates: int
    stall_s: float


@dataclass
class Outcome:
    lost: int
    duplicates: int
    seconds: float
    status: dict
    # The longest gap between two of the campaign's messages accepted by Twilio.
    stall_s: float


def kill_hard(system: System, name: str) -> None:
    tracked = system.table.get(name)
    assert tracked is not None and is_running(tracked), f"{name} is not running"
    os.kill(tracked.pid, signal.SIGKILL)
    eventually_sync(lambda: not is_running(tracked), timeout_s=10, what=f"{name} gone")
    system.table.stop(name)  # forget the dead process


class FaultRun:
    def __init__(self, system: System, sandbox: httpx.Client, name: str) -> None:
        self.system = system
        self.sandbox = sandbox
        self.valid = [valid_phone(i) for i in range(VALID)]
        self.invalid = [invalid_phone(i) for i in range(INVALID)]
        with system.client() as client:
            campaign = create_campaign(client, name, self.valid + self.invalid)
            self.campaign_id = campaign["id"]
            start(client, self.campaign_id)
        self.started = time.monotonic()

    def status(self) -> dict:
        with self.system.client() as client:
            response = client.get(f"/api/campaigns/{self.campaign_id}/queue-status")
            response.raise_for_status()
            return response.json()["status"]

    def wait_sent(self, count: int, timeout_s: float = 120) -> None:
        eventually_sync(
            lambda: len(ledger(self.sandbox)) >= count,
            timeout_s=timeout_s,
            what=f"{count} messages accepted",
        )

    def finish(self, timeout_s: float = 300) -> Outcome:
        """Wait for every contact's outcome, then compare the ledger with the audience."""

        def done() -> dict | None:
            try:
                status = self.status()
            except httpx.HTTPError:
                return None  # the api may answer 5xx while Redis or Kafka is away
            settled = status["account"]["waiting"] == 0 and status["account"]["total"] > 0
            return status if settled else None

        status = eventually_sync(done, timeout_s=timeout_s, what="every contact with an outcome")
        seconds = time.monotonic() - self.started
        messages = ledger(self.sandbox)
        accepted = Counter(m["to"] for m in messages)
        wanted = {f"whatsapp:{phone}" for phone in self.valid}
        refused = {f"whatsapp:{phone}" for phone in self.invalid}
        lost = len(wanted - accepted.keys())
        duplicates = sum(n - 1 for n in accepted.values() if n > 1)
        assert not refused & accepted.keys(), "an invalid number reached Twilio"
        assert set(accepted) <= wanted, "a message to someone outside the audience"
        progress = status["progress"]
        assert progress["success"] == len(accepted), (progress, len(accepted))
        assert progress["failed"] == INVALID + lost, progress
        assert status["metrics"]["errorsByCode"].get("21211") == INVALID, status["metrics"]
        times = sorted(m["accepted_at_ms"] for m in messages if m["to"] in wanted)
        stall_ms = max((b - a for a, b in pairwise(times)), default=0)
        return Outcome(lost, duplicates, round(seconds, 1), status, round(stall_ms / 1000, 1))


class FaultTable:
    """Rows of the fault table in docs/reliability.md, as this run measured them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[FaultRow] = []

    def record(self, fault: str, behaviour: str, outcome: Outcome) -> None:
        self.rows.append(
            FaultRow(
                fault,
                behaviour,
                outcome.seconds,
                outcome.lost,
                outcome.duplicates,
                outcome.stall_s,
            )
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([asdict(row) for row in self.rows], indent=2))

    def markdown(self) -> str:
        lines = [
            "| fault | what the system did | campaign took | longest stall | lost | duplicates |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r.fault} | {r.behaviour} | {r.seconds:.0f} s | {r.stall_s:.1f} s | {r.lost} "
            f"| {r.duplicates} |"
            for r in self.rows
        ]
        return "\n".join(lines)
