"""The queue-status body of a campaign, in the Bull-era shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from services.api.schemas.campaigns import AllowedActions
from shared.lifecycle import CampaignStatus


class ProgressPublic(ApiModel):
    processed: int
    total: int
    success: int = Field(description="Messages Twilio accepted.")
    failed: int
    percentage: float


class FailureReasonPublic(ApiModel):
    code: int
    count: int
    meaning: str = Field(description='For a person: 63016 reads "needs a template".')


class WaitingPublic(ApiModel):
    """Contacts the dispatcher holds until a time, not yet sent."""

    send_window: int = Field(default=0, description="Until their local send window opens.")
    tier: int = Field(default=0, description="Until the sender's messaging tier has room.")


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
    skipped_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Skipped contacts by reason: opted_out, invalid, ..."
    )
    failure_reasons: list[FailureReasonPublic] = Field(
        default_factory=list,
        description="Failures by Twilio error code, refused sends and failed or undelivered "
        "receipts together, with what the code means.",
    )
    waiting: WaitingPublic = Field(default_factory=lambda: WaitingPublic())


class FunnelPublic(ApiModel):
    """Messages by how far they got, from Twilio's delivery receipts; cumulative: a read
    message counts as delivered and sent too. Receipts may follow the outcome by hours."""

    accepted: int = Field(default=0, description="Messages Twilio accepted (progress.success).")
    sent: int = Field(default=0, description="Left Twilio: delivered, read or undelivered.")
    delivered: int = Field(default=0, description="Reached the phone, read ones included.")
    read: int = 0
    failed: int = Field(default=0, description="Accepted, then failed (see funnelErrorsByCode).")
    undelivered: int = 0


class CampaignQueueStatusPublic(ApiModel):
    campaign_id: str
    status: CampaignStatus
    allowed_actions: AllowedActions
    total_jobs: int
    active_jobs: int
    waiting_jobs: int
    completed_jobs: int
    failed_jobs: int
    progress: ProgressPublic
    metrics: QueueMetricsPublic
    throttled_until: datetime | None = Field(
        default=None,
        description="While `throttled` by the sender's messaging tier: when sending resumes.",
    )
    circuit_breaker: str | None = Field(
        default=None,
        description="While the campaign runs: the senders' circuit breakers as one, "
        "`open` when Twilio calls wait (its messages are not failed for it).",
    )
    failure_reason: str | None = Field(
        default=None, description="When `failed`: why the system gave up on the campaign."
    )
    funnel: FunnelPublic = Field(default_factory=lambda: FunnelPublic())
    funnel_errors_by_code: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='failed / undelivered -> Twilio error code -> messages: {"failed": '
        '{"63016": 2}}.',
    )


class QueueStatusPublic(ApiModel):
    success: bool = True
    status: CampaignQueueStatusPublic
