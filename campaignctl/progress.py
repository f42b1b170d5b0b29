"""A campaign's counts at one moment, and when a sequence of them says it is over.

Plain data and loops, apart from drawing and HTTP, so they are tested without either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.lifecycle import is_final

POLL_INTERVAL_S = 0.5
# How long a campaign's status and its counts may disagree about it being over.
SETTLE_S = 3.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A campaign's counts at one moment, from its queue status: the api's account of the
    campaign (shared/account.py) as it sends it, so this prints what every surface shows."""

    campaign_id: str
    status: str
    total: int
    # Reached a send outcome; skipped, cancelled and expired contacts are not processed.
    processed: int
    # Accepted by Twilio and not failed since.
    sent: int
    # At send and after acceptance.
    failed: int
    skipped: int = 0
    cancelled: int = 0
    expired: int = 0
    waiting: int = 0
    delivered: int = 0
    success_rate: float = 0.0
    summary: str = ""
    rate: float = 0.0
    elapsed_ms: int = 0
    # (code or None, stage, count, meaning), most frequent first.
    failures: tuple[tuple[int | None, str, int, str], ...] = ()
    # Contacts per second over the last seconds, where the API reports it (its event
    # stream); ``rate`` is the average over the sending time.
    live_rate: float | None = None
    # The queue status it was read from, for --json.
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_queue_status(
        cls, status: Mapping[str, Any], live_rate: float | None = None
    ) -> Snapshot:
        progress, metrics = status["progress"], status["metrics"]
        account = status.get("account")
        if account is None:  # an api from before the account
            account = {
                "total": progress["total"],
                "processed": progress["processed"],
                "succeeded": progress["success"],
                "failed": progress["failed"],
                "waiting": max(0, progress["total"] - progress["processed"]),
                "failures": [
                    {"code": int(code), "stage": "at_send", "count": n, "meaning": ""}
                    for code, n in metrics["errorsByCode"].items()
                ],
            }
        return cls(
            campaign_id=status["campaignId"],
            status=status["status"],
            total=account["total"],
            processed=account["processed"],
            sent=account["succeeded"],
            failed=account["failed"],
            skipped=metrics["skipped"],
            cancelled=metrics["cancelled"],
            expired=metrics["expired"],
            waiting=account["waiting"],
            delivered=account.get("delivered", 0),
            success_rate=metrics.get("successRate", 0.0),
            summary=account.get("summary", ""),
            rate=metrics["messagesPerSecond"],
            elapsed_ms=metrics["processingTimeMs"],
            failures=tuple(
                (f["code"], f["stage"], f["count"], f["meaning"]) for f in account["failures"]
            ),
            live_rate=live_rate,
            source=status,
        )

    @property
    def final(self) -> bool:
        return is_final(self.status)

    @property
    def all_processed(self) -> bool:
        """Every contact has an end state: sent, failed, skipped, cancelled or expired."""
        return self.total > 0 and self.waiting == 0


def polled(
    fetch: Callable[[], Snapshot],
    interval_s: float = POLL_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Snapshot]:
    """A snapshot every ``interval_s``, without drift: a slow answer shortens the wait."""
    next_at = clock()
    while True:
        yield fetch()
        next_at += interval_s
        sleep(max(0.0, next_at - clock()))
        next_at = max(next_at, clock())


def until_over(
    snapshots: Iterable[Snapshot],
    on_snapshot: Callable[[Snapshot], None],
    settle_s: float = SETTLE_S,
    clock: Callable[[], float] = time.monotonic,
) -> Snapshot:
    """Hand each snapshot to ``on_snapshot`` until the campaign is over; the last one.

    Over means a final status with every contact processed. The two arrive a moment
    apart (a stop cancels the unsent contacts after it), so either alone ends the
    wait once it has held for ``settle_s``: a campaign that failed half-way is over too.
    """
    last: Snapshot | None = None
    over_since: float | None = None
    for snapshot in snapshots:
        last = snapshot
        on_snapshot(snapshot)
        if snapshot.final and snapshot.all_processed:
            return snapshot
        if snapshot.final or snapshot.all_processed:
            over_since = clock() if over_since is None else over_since
            if clock() - over_since >= settle_s:
                return snapshot
        else:
            over_since = None
    if last is None:
        raise ValueError("no progress to follow")
    return last
