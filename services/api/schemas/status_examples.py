"""Examples of the larger read-outs: a campaign's queue status (also what its live event
stream carries) and the dashboard. See examples.py for how they reach the document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from services.api.schemas import dashboard as dash
from services.api.schemas import queue_status as qs

CAMPAIGN_ID = "0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b"
STARTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEEDS_TEMPLATE = "needs a template: outside the 24 h window"


def funnel() -> qs.FunnelPublic:
    return qs.FunnelPublic(accepted=118, sent=96, delivered=90, read=41, failed=2, undelivered=1)


def account() -> qs.AccountPublic:
    return qs.AccountPublic(
        total=200,
        delivered=90,
        read=41,
        sent=25,
        failed_at_send=2,
        failed_after_acceptance=2,
        undelivered=1,
        skipped=3,
        cancelled=0,
        expired=0,
        waiting=77,
        processed=120,
        succeeded=115,
        failed=5,
        success_rate=95.8,
        percent_processed=60.0,
        sending_seconds=6.0,
        rate_per_second=20.0,
        summary="90 delivered · 25 sent · 5 failed · 3 skipped · 77 waiting",
        failures=[
            qs.AccountFailurePublic(code=63016, stage="at_send", count=2, meaning=NEEDS_TEMPLATE),
            qs.AccountFailurePublic(
                code=30008, stage="after_acceptance", count=2, meaning="unknown error"
            ),
        ],
    )


def campaign_queue_status() -> qs.CampaignQueueStatusPublic:
    return qs.CampaignQueueStatusPublic(
        campaign_id=CAMPAIGN_ID,
        status="sending",
        allowed_actions=["pause", "stop"],
        total_jobs=4,
        active_jobs=1,
        waiting_jobs=1,
        completed_jobs=2,
        failed_jobs=0,
        progress=qs.ProgressPublic(
            processed=120, total=200, success=118, failed=2, percentage=60.0
        ),
        metrics=qs.QueueMetricsPublic(
            processing_time_ms=6_000,
            messages_per_second=20.0,
            success_rate=95.8,
            started_at=STARTED,
            finished_at=None,
            skipped=3,
            cancelled=0,
            expired=0,
            errors_by_code={"63016": 2},
            skipped_by_reason={"opted_out": 2, "invalid": 1},
            failure_reasons=[qs.FailureReasonPublic(code=63016, count=2, meaning=NEEDS_TEMPLATE)],
        ),
        circuit_breaker="closed",
        account=account(),
        retryable_failures=0,
        funnel=funnel(),
        funnel_errors_by_code={"failed": {"30008": 2}},
    )


def dashboard() -> dash.DashboardPublic:
    return dash.DashboardPublic(
        metrics=dash.DashboardMetricsPublic(
            campaign_queue=dash.CampaignQueueCountsPublic(active=1, completed=4, draft=2),
            processing_queue=dash.ProcessingQueuePublic(
                waiting=77,
                active=5,
                completed=118,
                failed=2,
                in_flight_batches=1,
                pending_messages=82,
                consumer_lag={},
                consumer_groups={},
            ),
            totals=dash.TotalsPublic(sent=1_318, failed=9),
            account=account(),
            funnel=funnel(),
            system=dash.SystemMetricsPublic(
                campaigns_processed=4,
                messages_sent=1_318,
                messages_failed=9,
                average_processing_time=61_000,
                active_workers=2,
                circuit_breaker_status="closed",
                circuit_breaker="closed",
                average_processing_time_ms=61_000,
            ),
        )
    )


def alerts() -> dash.AlertsPublic:
    return dash.AlertsPublic(
        alerts=[
            dash.AlertPublic(
                name="failure_rate",
                message="12% of the last minute's sends failed",
                details={"failureRate": 0.12, "threshold": 0.1},
                raised_at=STARTED,
            )
        ]
    )


RESPONSES: dict[str, Callable[[], BaseModel]] = {
    "QueueStatusPublic": lambda: qs.QueueStatusPublic(status=campaign_queue_status()),
    "DashboardPublic": dashboard,
    "AlertsPublic": alerts,
}
