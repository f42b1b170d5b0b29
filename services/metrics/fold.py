"""message.results into progress: a poll batch of results in, counted outcomes out.

A batch is grouped in memory (``group_results``, no I/O) and folded in one Redis
round trip; completions, then the alerts' tally, follow. If Redis fails part way,
the caller reads the batch again: results already counted are skipped by the fold,
the Prometheus counters and the tally only ever add what the fold reported new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.events.models import (
    Event,
    MessageCancelled,
    MessageFailed,
    MessageOutcome,
    MessagesCancelled,
    MessageSent,
    MessageSkipped,
)
from shared.lifecycle import COMPLETED, FAILED, NOT_FINAL, move
from shared.metrics import RESULTS_FOLDED
from shared.outages import MAX_REASON_CHARS
from shared.store.campaigns import CampaignStore
from shared.store.progress import ContactResult, Outcome, ProgressStore, ResultGroup
from shared.store.recipients import RecipientOutcome, RecipientStore
from shared.store.stats import BUCKET_MS, OutcomeTally, StatsStore
from shared.store.suppressions import SuppressionStore
from shared.twilio_errors import UNSUBSCRIBED_RECIPIENT

log = logging.getLogger(__name__)

# Terminal outcomes only: a deferred message is still on its way.
OUTCOMES: dict[type[Event], Outcome] = {
    MessageSent: "sent",
    MessageFailed: "failed",
    MessageSkipped: "skipped",
    MessageCancelled: "cancelled",
}


def outcome_of(event: Event) -> Outcome | None:
    if isinstance(event, MessageCancelled | MessagesCancelled):
        return "expired" if event.reason == "expired" else "cancelled"
    return OUTCOMES.get(type(event))


# A group of a poll batch: what its results share, and the 10 s bucket of the alerts'
# tally they fall in (so that the tally, counted per group, stays exact).
GroupKey = tuple[ResultGroup, int]


def group_results(events: Sequence[Event]) -> dict[GroupKey, list[ContactResult]]:
    """The terminal results of a poll batch, grouped for one fold, in order of arrival.

    Only the first result of a contact in the batch is kept: folded one by one, any
    later one would find the contact counted already and change nothing.
    """
    groups: dict[GroupKey, list[ContactResult]] = {}
    seen: set[tuple[str, str]] = set()
    for event in events:
        outcome = outcome_of(event)
        if outcome is None:
            continue
        if isinstance(event, MessagesCancelled):
            contacts = event.contact_ids
        elif isinstance(event, MessageOutcome):
            contacts = [event.contact_id]
        else:
            continue
        failure = event if isinstance(event, MessageFailed) else None
        group = ResultGroup(
            event.campaign_id,
            outcome,
            event.batch_index,
            failure.error_code if failure else None,
            retryable=bool(failure and failure.retryable),
            skip_reason=event.reason if isinstance(event, MessageSkipped) else None,
        )
        at_ms = int(event.occurred_at.timestamp() * 1000)
        results = groups.setdefault((group, at_ms // BUCKET_MS), [])
        for contact in contacts:
            if (event.campaign_id, contact) not in seen:
                seen.add((event.campaign_id, contact))
                results.append((contact, at_ms))
    # A group can be left empty when its contacts all had an earlier result.
    return {key: results for key, results in groups.items() if results}


def recipient_outcomes(events: Sequence[Event]) -> list[RecipientOutcome]:
    """The terminal results of a poll batch as per-recipient rows. Results without a
    position (published by versions before positions were) have no row to go to."""
    rows: list[RecipientOutcome] = []
    for event in events:
        state = outcome_of(event)
        if state is None:
            continue
        if isinstance(event, MessagesCancelled):
            if event.first_position is not None:
                rows.extend(
                    RecipientOutcome(
                        event.campaign_id, position, state, event.occurred_at, reason=event.reason
                    )
                    for position in range(
                        event.first_position, event.first_position + len(event.contact_ids)
                    )
                )
        elif isinstance(event, MessageOutcome) and event.position is not None:
            rows.append(
                RecipientOutcome(
                    event.campaign_id,
                    event.position,
                    state,
                    event.occurred_at,
                    error_code=getattr(event, "error_code", None),
                    message_sid=getattr(event, "message_sid", None),
                    reason=_reason(event),
                )
            )
    return rows


def twilio_opt_outs(events: Sequence[Event]) -> list[tuple[str, str]]:
    """Numbers Twilio said opted out (21610), with the reason they are suppressed for:
    the sender put them in the dispatcher's copy; the record is written from here."""
    return [
        (event.to, f"error_{event.error_code}")
        for event in events
        if isinstance(event, MessageFailed) and event.error_code == UNSUBSCRIBED_RECIPIENT
    ]


def _reason(event: MessageOutcome) -> str | None:
    if isinstance(event, MessageFailed):
        return event.error_message[:MAX_REASON_CHARS]
    return getattr(event, "reason", None)


@dataclass(frozen=True, slots=True)
class Retention:
    progress_ttl_s: int = 24 * 3600
    results_ttl_s: int = 7 * 24 * 3600
    completed_jobs_kept: int = 100
    failed_jobs_kept: int = 50


class ProgressFolder:
    def __init__(
        self,
        progress: ProgressStore,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        suppressions: SuppressionStore,
        retention: Retention,
        stats: StatsStore,
    ) -> None:
        self._progress = progress
        self._campaigns = campaigns
        self._recipients = recipients
        self._suppressions = suppressions
        self._stats = stats
        self._retention = retention
        # Outcome counts for the alerts, written once a poll batch (flush_stats) rather
        # than in one more round trip a result.
        self._unflushed = OutcomeTally()

    async def fold_batch(self, events: Sequence[Event]) -> int:
        """Count the terminal results of a poll batch, each contact once, in one round
        trip; complete the campaigns they finish. Returns how many were new.

        Each recipient's outcome goes to PostgreSQL first, in one statement, so that a
        campaign seen completed has every outcome written. A test send's outcome counts
        in nothing but an opt-out (shared/test_sends.py)."""
        counted = [event for event in events if not getattr(event, "test_send", False)]
        await self._recipients.record_outcomes(recipient_outcomes(counted))
        if opted_out := twilio_opt_outs(events):
            await self._suppressions.add_many(opted_out, actor="twilio")
        groups = group_results(counted)
        replies = await self._progress.fold_many(
            [(group, results) for (group, _), results in groups.items()]
        )
        folded, completed = 0, []
        for ((group, _), results), (new, completes) in zip(groups.items(), replies, strict=True):
            if new:
                folded += new
                RESULTS_FOLDED.labels(outcome=group.outcome).inc(new)
                if group.outcome in ("sent", "failed"):
                    # Every result of a group is in the same bucket: any one's time will do.
                    self._unflushed.add(results[0][1], group.outcome, new)
            if completes:
                completed.append(group.campaign_id)
        for campaign_id in completed:
            await self._complete(campaign_id)
        return folded

    async def flush_stats(self) -> None:
        """Write the outcome counts folded since the last flush (kept if Redis fails)."""
        if self._unflushed.counts:
            await self._stats.count_outcomes(self._unflushed)
            self._unflushed = OutcomeTally()

    async def _complete(self, campaign_id: str) -> None:
        # A stopped campaign stays stopped once its last contact is cancelled.
        moved, found = await move(
            self._campaigns,
            campaign_id,
            NOT_FINAL,
            COMPLETED,
            finished_at=datetime.now(UTC).isoformat(),
        )
        status = COMPLETED if moved else found
        await self._clean_up(campaign_id, status)
        log.info("campaign completed", extra={"campaign_id": campaign_id, "status": status})

    async def _clean_up(self, campaign_id: str, status: str | None) -> None:
        retention = self._retention
        await self._progress.expire_ended(
            campaign_id, retention.progress_ttl_s, retention.results_ttl_s
        )
        await self._recipients.expire_after(
            campaign_id, datetime.now(UTC) + timedelta(seconds=retention.results_ttl_s)
        )
        progress = await self._progress.read(campaign_id)
        record = await self._campaigns.get(campaign_id)
        failed = status == FAILED
        await self._progress.record_job(
            "failed" if failed else "completed",
            {
                "campaignId": campaign_id,
                "jobId": record.job_id if record else None,
                "status": status,
                "finishedAt": datetime.now(UTC).isoformat(),
                "total": progress.total if progress else 0,
                "sent": progress.sent if progress else 0,
                "failed": progress.failed if progress else 0,
            },
            retention.failed_jobs_kept if failed else retention.completed_jobs_kept,
        )
