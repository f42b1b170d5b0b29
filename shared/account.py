"""One account of a campaign: where each of its recipients ended, and what people read
from that. The api's queue-status, the dashboard, the web page and campaignctl all show
this account (the last two as the api sends it), so no two surfaces can disagree.

Each recipient is in exactly one state:
- ``delivered``  accepted by Twilio, then delivered (or read: ``read`` counts those too)
- ``sent``       accepted by Twilio, no final receipt yet
- ``failed_at_send``            Twilio refused it (an error code)
- ``failed_after_acceptance``   accepted, then a ``failed`` receipt (an error code)
- ``undelivered``               accepted, then an ``undelivered`` receipt (an error code)
- ``skipped`` (opted out, invalid, ...), ``cancelled`` (stopped), ``expired``
- ``waiting``    none of those yet

"Processed" means a send outcome was reached: accepted or failed at send. Skipped,
cancelled and expired recipients sit beside it, never inside it, so a stopped campaign
reads "12 sent · 18 cancelled" and never "30 of 30 processed". Plain functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from shared.store.funnel import Funnel
from shared.store.progress import Progress
from shared.twilio_errors import failure_meaning

# The stage a failure happened at, as the account names it.
AT_SEND = "at_send"
AFTER_ACCEPTANCE = "after_acceptance"
UNDELIVERED = "undelivered"


# The states a recipient may be in, each a field of the account; they add up to its total.
ACCOUNT_STATES = (
    "delivered", "sent", "failed_at_send", "failed_after_acceptance", "undelivered",
    "skipped", "cancelled", "expired", "waiting",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Failure:
    code: int | None
    stage: str
    count: int

    @property
    def meaning(self) -> str:
        return failure_meaning(self.code) if self.code is not None else "No code reported"


@dataclass(frozen=True, slots=True)
class Counts:
    """What the account is made from: the progress view's counters and the funnel's."""

    total: int = 0
    accepted: int = 0
    failed_at_send: int = 0
    skipped: int = 0
    cancelled: int = 0
    expired: int = 0
    # From delivery receipts, cumulative as the funnel keeps them.
    delivered: int = 0
    read: int = 0
    failed_after_acceptance: int = 0
    undelivered: int = 0
    # First and last send outcome (accepted or failed at send), in ms.
    first_send_ms: int | None = None
    last_send_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CampaignAccount:
    total: int
    delivered: int
    read: int
    sent: int
    failed_at_send: int
    failed_after_acceptance: int
    undelivered: int
    skipped: int
    cancelled: int
    expired: int
    waiting: int
    sending_seconds: float
    failures: tuple[Failure, ...] = ()

    @property
    def accepted(self) -> int:
        return self.delivered + self.sent + self.failed_after_acceptance + self.undelivered

    @property
    def processed(self) -> int:
        """Recipients that reached a send outcome."""
        return self.accepted + self.failed_at_send

    @property
    def succeeded(self) -> int:
        """Accepted and not failed since: delivered, or sent with no receipt yet."""
        return self.delivered + self.sent

    @property
    def failed(self) -> int:
        """Failed at either stage: a failure after acceptance is a failure."""
        return self.failed_at_send + self.failed_after_acceptance + self.undelivered

    @property
    def success_rate(self) -> float:
        """Percent of the processed recipients that succeeded."""
        return round(100 * self.succeeded / self.processed, 2) if self.processed else 0.0

    @property
    def percent_processed(self) -> float:
        return round(100 * self.processed / self.total, 2) if self.total else 0.0

    @property
    def rate_per_second(self) -> float:
        """Send outcomes per second of sending time, from the first send to the end of the
        second of the last one. Counting that last second whole keeps the figure at or under
        a per-second limit the sends kept (n sends over s seconds under a limit of L a second
        are at most L * (s + 1)), where n / s would read 12 sends in 1.1 s as 10.9 a second."""
        return round(self.processed / self.sending_seconds, 2) if self.sending_seconds else 0.0

    @property
    def settled(self) -> bool:
        """Every recipient has an end state (receipts may still move sent ones)."""
        return self.waiting == 0

    @property
    def summary(self) -> str:
        """One line for people: "12 sent · 18 cancelled"; the parts add up to the total."""
        parts = [
            (self.succeeded, "sent"),
            (self.failed, "failed"),
            (self.skipped, "skipped"),
            (self.cancelled, "cancelled"),
            (self.expired, "expired"),
            (self.waiting, "waiting"),
        ]
        shown = [f"{n:,} {label}" for n, label in parts if n]
        return " · ".join(shown) if shown else "No recipients"


def campaign_account(
    counts: Counts,
    send_errors: Mapping[int, int] | None = None,
    receipt_errors: Mapping[str, Mapping[str, int]] | None = None,
) -> CampaignAccount:
    """The account of one campaign.

    ``send_errors``: Twilio error code -> recipients refused at send. ``receipt_errors``:
    ``failed`` / ``undelivered`` -> code (or ``unknown``) -> messages, as the funnel keeps
    them. Receipts may be folded before the send outcome they follow, so what receipts
    report is capped by what was accepted: no state is ever counted past its recipients.
    """
    accepted = counts.accepted
    failed_after = min(counts.failed_after_acceptance, accepted)
    undelivered = min(counts.undelivered, accepted - failed_after)
    delivered = min(counts.delivered, accepted - failed_after - undelivered)
    ended = accepted + counts.failed_at_send + counts.skipped + counts.cancelled + counts.expired
    sending_s = 0.0
    if counts.first_send_ms is not None and counts.last_send_ms is not None:
        sending_s = max(0, counts.last_send_ms - counts.first_send_ms) / 1000 + 1
    return CampaignAccount(
        total=counts.total,
        delivered=delivered,
        read=min(counts.read, delivered),
        sent=accepted - failed_after - undelivered - delivered,
        failed_at_send=counts.failed_at_send,
        failed_after_acceptance=failed_after,
        undelivered=undelivered,
        skipped=counts.skipped,
        cancelled=counts.cancelled,
        expired=counts.expired,
        waiting=max(0, counts.total - ended),
        sending_seconds=round(sending_s, 3),
        failures=_failures(send_errors or {}, receipt_errors or {}),
    )


def _failures(
    send_errors: Mapping[int, int], receipt_errors: Mapping[str, Mapping[str, int]]
) -> tuple[Failure, ...]:
    found = [Failure(code, AT_SEND, n) for code, n in send_errors.items() if n]
    stages = {"failed": AFTER_ACCEPTANCE, "undelivered": UNDELIVERED}
    for state, codes in receipt_errors.items():
        stage = stages.get(state)
        if stage is None:
            continue
        for code, n in codes.items():
            if n:
                found.append(Failure(int(code) if code.isdigit() else None, stage, n))
    return tuple(sorted(found, key=lambda f: (-f.count, f.code or 0, f.stage)))


def combined(accounts: Iterable[CampaignAccount]) -> CampaignAccount:
    """Several campaigns' accounts as one (the dashboard's), state by state."""
    accounts = list(accounts)
    summed = {
        f.name: sum(getattr(a, f.name) for a in accounts)
        for f in fields(CampaignAccount)
        if f.name not in ("failures", "sending_seconds")
    }
    by_cause: dict[tuple[int | None, str], int] = {}
    for account in accounts:
        for failure in account.failures:
            key = (failure.code, failure.stage)
            by_cause[key] = by_cause.get(key, 0) + failure.count
    failures = sorted(
        (Failure(code, stage, n) for (code, stage), n in by_cause.items()),
        key=lambda f: (-f.count, f.code or 0, f.stage),
    )
    return CampaignAccount(
        **summed,
        sending_seconds=round(sum(a.sending_seconds for a in accounts), 3),
        failures=tuple(failures),
    )


def account_of(progress: Progress | None, funnel: Funnel | None, total: int) -> CampaignAccount:
    """The account from a campaign's progress view and funnel; ``total`` counts for a
    campaign not yet expanded (no progress view), whose every recipient is waiting."""
    funnel = funnel or Funnel()
    if progress is None:
        return campaign_account(Counts(total=total))
    counts = Counts(
        total=progress.total,
        accepted=progress.sent,
        failed_at_send=progress.failed,
        skipped=progress.skipped,
        cancelled=progress.cancelled,
        expired=progress.expired,
        delivered=funnel.delivered,
        read=funnel.read,
        failed_after_acceptance=funnel.failed,
        undelivered=funnel.undelivered,
        first_send_ms=progress.first_send_ms,
        last_send_ms=progress.last_send_ms,
    )
    return campaign_account(counts, progress.errors, funnel.errors)
