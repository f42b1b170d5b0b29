"""A campaign's queue status, in the Bull-era shape, computed from the progress view.

Jobs are the dispatcher's batches of BATCH_SIZE contacts. Plain functions: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from services.api.models import ApiModel
from shared.store.campaigns import CampaignRecord, CampaignStatus
from shared.store.progress import Progress


class ProgressPublic(ApiModel):
    processed: int
    total: int
    success: int = Field(description="Messages Twilio accepted.")
    failed: int
    percentage: float


class QueueMetricsPublic(ApiModel):
    processing_time_ms: int
    messages_per_second: float
    success_rate: float = Field(description="Percent of processed contacts that were sent.")
    started_at: datetime | None
    finished_at: datetime | None
    skipped: int
    cancelled: int
    expired: int
    errors_by_code: dict[str, int]


class QueueStatus(ApiModel):
    campaign_id: str
    status: CampaignStatus
    total_jobs: int
    active_jobs: int
    waiting_jobs: int
    completed_jobs: int
    failed_jobs: int
    progress: ProgressPublic
    metrics: QueueMetricsPublic
    circuit_breaker: str | None = Field(
        default=None,
        description="While the campaign runs: the senders' circuit breakers as one, "
        "`open` when Twilio calls wait (its messages are not failed for it).",
    )


class QueueStatusPublic(ApiModel):
    success: bool = True
    status: QueueStatus


def _from_ms(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def queue_status(record: CampaignRecord, progress: Progress | None, now_ms: int) -> QueueStatus:
    """The queue-status body of one campaign; a campaign not yet expanded has no jobs."""
    if progress is None:
        total = record.total
        return QueueStatus(
            campaign_id=record.id,
            status=record.status,
            total_jobs=0,
            active_jobs=0,
            waiting_jobs=0,
            completed_jobs=0,
            failed_jobs=0,
            progress=ProgressPublic(processed=0, total=total, success=0, failed=0, percentage=0),
            metrics=QueueMetricsPublic(
                processing_time_ms=0,
                messages_per_second=0,
                success_rate=0,
                started_at=record.started_at,
                finished_at=record.finished_at,
                skipped=0,
                cancelled=0,
                expired=0,
                errors_by_code={},
            ),
        )
    emitted = min(progress.batches_emitted, progress.batches_total)
    completed = min(progress.jobs_completed, emitted)
    percentage = round(100 * progress.processed / progress.total, 2) if progress.total else 0.0
    if progress.started_ms is None:
        elapsed_ms = 0
    else:
        end_ms = progress.finished_ms if progress.finished_ms is not None else now_ms
        elapsed_ms = max(0, end_ms - progress.started_ms)
    rate = round(progress.processed / (elapsed_ms / 1000), 2) if elapsed_ms else 0.0
    success_rate = round(100 * progress.sent / progress.processed, 2) if progress.processed else 0.0
    return QueueStatus(
        campaign_id=record.id,
        status=record.status,
        total_jobs=progress.batches_total,
        active_jobs=emitted - completed,
        waiting_jobs=progress.batches_total - emitted,
        completed_jobs=completed,
        failed_jobs=0,
        progress=ProgressPublic(
            processed=progress.processed,
            total=progress.total,
            success=progress.sent,
            failed=progress.failed,
            percentage=percentage,
        ),
        metrics=QueueMetricsPublic(
            processing_time_ms=elapsed_ms,
            messages_per_second=rate,
            success_rate=success_rate,
            started_at=record.started_at or _from_ms(progress.started_ms),
            finished_at=record.finished_at or _from_ms(progress.finished_ms),
            skipped=progress.skipped,
            cancelled=progress.cancelled,
            expired=progress.expired,
            errors_by_code={str(code): n for code, n in sorted(progress.errors.items())},
        ),
    )


def unsent(record: CampaignRecord, progress: Progress | None) -> int:
    """Contacts of a campaign that still wait for an outcome."""
    if progress is None:
        return record.total
    return max(0, progress.total - progress.processed)


def is_running(record: CampaignRecord, progress: Progress | None) -> bool:
    """Started and not finished: its unsent contacts are ahead of a new campaign's."""
    if record.status not in ("queued", "sending", "paused"):
        return False
    return not (progress is not None and progress.total and progress.processed >= progress.total)
