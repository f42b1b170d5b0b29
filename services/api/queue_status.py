"""A campaign's queue status, in the Bull-era shape, computed from the progress view.

Jobs are the dispatcher's batches of BATCH_SIZE contacts. Plain functions: no I/O.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from services.api.schemas.queue_status import (
    CampaignQueueStatusPublic,
    FailureReasonPublic,
    FunnelPublic,
    ProgressPublic,
    QueueMetricsPublic,
    WaitingPublic,
)
from shared.lifecycle import FAILED, RUNNING, THROTTLED, allowed_actions
from shared.store.campaigns import CampaignRecord
from shared.store.funnel import Funnel
from shared.store.progress import Progress
from shared.twilio_errors import failure_meaning


def _from_ms(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def queue_status(
    record: CampaignRecord,
    progress: Progress | None,
    now_ms: int,
    held: dict[str, int] | None = None,
) -> CampaignQueueStatusPublic:
    """The queue-status body of one campaign; a campaign not yet expanded has no jobs."""
    status = _queue_status(record, progress, now_ms)
    held = held or {}
    waiting = WaitingPublic(send_window=held.get("window", 0), tier=held.get("tier", 0))
    metrics = status.metrics.model_copy(update={"waiting": waiting})
    throttled_until = _from_ms(record.throttled_until_ms) if record.status == THROTTLED else None
    failure_reason = record.failure_reason if record.status == FAILED else None
    return status.model_copy(
        update={
            "metrics": metrics,
            "throttled_until": throttled_until,
            "failure_reason": failure_reason,
        }
    )


def _queue_status(
    record: CampaignRecord, progress: Progress | None, now_ms: int
) -> CampaignQueueStatusPublic:
    if progress is None:
        total = record.total
        return CampaignQueueStatusPublic(
            campaign_id=record.id,
            status=record.status,
            allowed_actions=allowed_actions(record.status),
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
    return CampaignQueueStatusPublic(
        campaign_id=record.id,
        status=record.status,
        allowed_actions=allowed_actions(record.status),
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
            skipped_by_reason=dict(sorted(progress.skipped_by_reason.items())),
            failure_reasons=[
                FailureReasonPublic(code=code, count=n, meaning=failure_meaning(code))
                for code, n in sorted(progress.errors.items())
            ],
        ),
    )


def with_funnel(
    status: CampaignQueueStatusPublic, progress: Progress | None, funnel: Funnel
) -> CampaignQueueStatusPublic:
    """The status with its delivery funnel; accepted is what progress counts as sent."""
    public = FunnelPublic(
        accepted=progress.sent if progress is not None else 0,
        sent=funnel.sent,
        delivered=funnel.delivered,
        read=funnel.read,
        failed=funnel.failed,
        undelivered=funnel.undelivered,
    )
    errors = {state: dict(sorted(codes.items())) for state, codes in sorted(funnel.errors.items())}
    # A report reads failures by cause, whether Twilio refused the send or a receipt
    # reported it later (63016 "needs a template" only ever comes in a receipt).
    by_code = Counter({reason.code: reason.count for reason in status.metrics.failure_reasons})
    for codes in funnel.errors.values():
        by_code.update({int(code): n for code, n in codes.items() if code.isdigit()})
    reasons = [
        FailureReasonPublic(code=code, count=n, meaning=failure_meaning(code))
        for code, n in sorted(by_code.items())
    ]
    metrics = status.metrics.model_copy(update={"failure_reasons": reasons})
    return status.model_copy(
        update={"funnel": public, "funnel_errors_by_code": errors, "metrics": metrics}
    )


def unsent(record: CampaignRecord, progress: Progress | None) -> int:
    """Contacts of a campaign that still wait for an outcome."""
    if progress is None:
        return record.total
    return max(0, progress.total - progress.processed)


def is_running(record: CampaignRecord, progress: Progress | None) -> bool:
    """Started and not finished: its unsent contacts are ahead of a new campaign's."""
    if record.status not in RUNNING:
        return False
    return not (progress is not None and progress.total and progress.processed >= progress.total)
