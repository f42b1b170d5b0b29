"""A campaign's queue status, in the Bull-era shape, from its account.

Jobs are the dispatcher's batches of BATCH_SIZE contacts. Plain functions: no I/O.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from services.api.schemas.queue_status import (
    AccountPublic,
    CampaignQueueStatusPublic,
    FailureReasonPublic,
    FunnelPublic,
    ProgressPublic,
    QueueMetricsPublic,
    WaitingPublic,
)
from shared.account import CampaignAccount, account_of
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
    funnel: Funnel | None = None,
    retryable_failures: int = 0,
) -> CampaignQueueStatusPublic:
    """The queue-status body of one campaign; a campaign not yet expanded has no jobs.

    Every count people read comes from the campaign's account (shared/account.py); the
    Bull-era fields are that account in the original names."""
    account = account_of(progress, funnel, record.total)
    held = held or {}
    waiting = WaitingPublic(send_window=held.get("window", 0), tier=held.get("tier", 0))
    if progress is None:
        started_ms = finished_ms = None
        elapsed_ms = total_jobs = active_jobs = waiting_jobs = completed_jobs = 0
    else:
        started_ms, finished_ms = progress.started_ms, progress.finished_ms
        end_ms = finished_ms if finished_ms is not None else now_ms
        elapsed_ms = max(0, end_ms - started_ms) if started_ms is not None else 0
        emitted = min(progress.batches_emitted, progress.batches_total)
        completed_jobs = min(progress.jobs_completed, emitted)
        total_jobs = progress.batches_total
        active_jobs = emitted - completed_jobs
        waiting_jobs = progress.batches_total - emitted
    send_errors = progress.errors if progress is not None else {}
    return CampaignQueueStatusPublic(
        campaign_id=record.id,
        status=record.status,
        allowed_actions=allowed_actions(record.status),
        total_jobs=total_jobs,
        active_jobs=active_jobs,
        waiting_jobs=waiting_jobs,
        completed_jobs=completed_jobs,
        failed_jobs=0,
        progress=ProgressPublic(
            processed=account.processed,
            total=account.total,
            success=account.accepted,
            failed=account.failed_at_send,
            percentage=account.percent_processed,
        ),
        metrics=QueueMetricsPublic(
            processing_time_ms=elapsed_ms,
            messages_per_second=account.rate_per_second,
            success_rate=account.success_rate,
            started_at=record.started_at or _from_ms(started_ms),
            finished_at=record.finished_at or _from_ms(finished_ms),
            skipped=account.skipped,
            cancelled=account.cancelled,
            expired=account.expired,
            errors_by_code={str(code): n for code, n in sorted(send_errors.items())},
            skipped_by_reason=dict(sorted(progress.skipped_by_reason.items()))
            if progress is not None
            else {},
            failure_reasons=_failure_reasons(account),
            waiting=waiting,
        ),
        throttled_until=_from_ms(record.throttled_until_ms) if record.status == THROTTLED else None,
        failure_reason=record.failure_reason if record.status == FAILED else None,
        account=AccountPublic.of(account),
        retryable_failures=retryable_failures,
        funnel=_funnel(account, funnel),
        funnel_errors_by_code={
            state: dict(sorted(codes.items())) for state, codes in sorted(funnel.errors.items())
        }
        if funnel is not None
        else {},
    )


def _failure_reasons(account: CampaignAccount) -> list[FailureReasonPublic]:
    """Failures by cause, whether Twilio refused the send or a receipt reported it later
    (63016 "needs a template" only ever comes in a receipt): both stages, one row a code."""
    by_code = Counter()
    for failure in account.failures:
        if failure.code is not None:
            by_code[failure.code] += failure.count
    return [
        FailureReasonPublic(code=code, count=n, meaning=failure_meaning(code))
        for code, n in sorted(by_code.items())
    ]


def _funnel(account: CampaignAccount, funnel: Funnel | None) -> FunnelPublic:
    """Messages by how far they got; accepted is the account's."""
    if funnel is None:
        return FunnelPublic(accepted=account.accepted)
    return FunnelPublic(
        accepted=account.accepted,
        sent=funnel.sent,
        delivered=funnel.delivered,
        read=funnel.read,
        failed=funnel.failed,
        undelivered=funnel.undelivered,
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
