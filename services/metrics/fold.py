"""message.results into progress: one result in, one counted outcome (or none) out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.events.models import (
    Event,
    MessageCancelled,
    MessageFailed,
    MessageOutcome,
    MessagesCancelled,
    MessageSent,
    MessageSkipped,
)
from shared.metrics import RESULTS_FOLDED
from shared.store.campaigns import FINISHED_STATUSES, CampaignStore
from shared.store.progress import Outcome, ProgressStore
from shared.store.stats import OutcomeTally, StatsStore

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
        retention: Retention,
        stats: StatsStore,
    ) -> None:
        self._progress = progress
        self._campaigns = campaigns
        self._stats = stats
        self._retention = retention
        # Outcome counts for the alerts, written once a poll batch (flush_stats) rather
        # than in one more round trip a result.
        self._unflushed = OutcomeTally()

    async def fold(self, event: Event) -> bool:
        """Count a terminal result once; True when it was new."""
        outcome = outcome_of(event)
        if outcome is None:
            return False
        at_ms = int(event.occurred_at.timestamp() * 1000)
        if isinstance(event, MessagesCancelled):
            campaign_id, contacts, batch = event.campaign_id, event.contact_ids, event.batch_index
            failure = None
        elif isinstance(event, MessageOutcome):
            campaign_id, contacts, batch = event.campaign_id, [event.contact_id], event.batch_index
            failure = event if isinstance(event, MessageFailed) else None
        else:
            return False
        new, completes = await self._progress.fold(
            campaign_id,
            contacts,
            outcome,
            batch,
            failure.error_code if failure else None,
            at_ms,
            retryable=bool(failure and failure.retryable),
            skip_reason=event.reason if isinstance(event, MessageSkipped) else None,
        )
        if new:
            RESULTS_FOLDED.labels(outcome=outcome).inc(new)
            if outcome in ("sent", "failed"):
                self._unflushed.add(at_ms, outcome, new)
        if completes:
            await self._complete(campaign_id)
        return new > 0

    async def flush_stats(self) -> None:
        """Write the outcome counts folded since the last flush (kept if Redis fails)."""
        if self._unflushed.counts:
            await self._stats.count_outcomes(self._unflushed)
            self._unflushed = OutcomeTally()

    async def _complete(self, campaign_id: str) -> None:
        status = await self._campaigns.status(campaign_id)
        # A stopped campaign stays stopped once its last contact is cancelled.
        if status is not None and status not in FINISHED_STATUSES:
            status = "completed"
            await self._campaigns.set_fields(
                campaign_id, status=status, finished_at=datetime.now(UTC).isoformat()
            )
        await self._clean_up(campaign_id, status)
        log.info("campaign completed", extra={"campaign_id": campaign_id, "status": status})

    async def _clean_up(self, campaign_id: str, status: str | None) -> None:
        retention = self._retention
        await self._progress.expire_ended(
            campaign_id,
            self._campaigns.audience_key(campaign_id),
            retention.progress_ttl_s,
            retention.results_ttl_s,
        )
        progress = await self._progress.read(campaign_id)
        record = await self._campaigns.get(campaign_id)
        failed = status == "failed"
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
