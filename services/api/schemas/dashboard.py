"""The dashboard's bodies: the queue summary and the active alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from services.api.schemas.queue_status import AccountPublic, FunnelPublic


class CampaignQueueCountsPublic(ApiModel):
    """Your campaigns by status. The original contract's five come first."""

    waiting: int = Field(default=0, description="Queued: started, not yet being sent.")
    active: int = Field(default=0, description="Sending (or held by the messaging tier).")
    completed: int = 0
    failed: int = 0
    delayed: int = Field(default=0, description="Scheduled to start later.")
    paused: int = 0
    scheduled: int = Field(default=0, description="The same as delayed.")
    draft: int = 0
    stopped: int = 0


class ProcessingQueuePublic(ApiModel):
    """Your messages by where they are (the original contract's five), then batches
    and, for admins, Kafka's consumer lag."""

    waiting: int = Field(default=0, description="Not yet handed to the senders.")
    active: int = Field(default=0, description="With the senders: in Kafka or being sent.")
    completed: int = Field(default=0, description="Sent (accepted by Twilio).")
    failed: int = Field(default=0, description="Failed at send.")
    delayed: int = Field(
        default=0, description="Held: by a pause, a send window or the messaging tier."
    )
    in_flight_batches: int
    pending_messages: int = Field(description="waiting + active + delayed.")
    consumer_lag: dict[str, int]
    consumer_groups: dict[str, dict[str, int]]


class TotalsPublic(ApiModel):
    sent: int
    failed: int


class SystemMetricsPublic(ApiModel):
    """The original contract's six for everyone; the infrastructure beside them only
    for admins (null for others)."""

    campaigns_processed: int = Field(
        description="Your campaigns finished: completed, failed or stopped."
    )
    messages_sent: int
    messages_failed: int
    average_processing_time: int | None = Field(
        description="Mean time from a campaign's start to its last outcome, in ms."
    )
    active_workers: int = Field(description="Sender replicas alive.")
    circuit_breaker_status: str = Field(
        description="The senders' breakers as one: open if any is open, then half_open; "
        "closed; unknown with no sender alive."
    )
    circuit_breaker: str = Field(description="The same as circuitBreakerStatus.")
    average_processing_time_ms: int | None = Field(description="The same, named with its unit.")
    # Replica id -> its circuit breaker: closed, open or half_open.
    circuit_breakers: dict[str, str] | None = None
    uptime_s: float | None = None
    redis: dict[str, object] | None = None
    kafka: dict[str, object] | None = None
    totals: TotalsPublic | None = None
    funnel: FunnelPublic | None = Field(
        default=None,
        description="Delivery funnel summed over your running and recently run campaigns.",
    )


class DashboardMetricsPublic(ApiModel):
    campaign_queue: CampaignQueueCountsPublic
    processing_queue: ProcessingQueuePublic
    totals: TotalsPublic = Field(description="Sent and failed over your campaigns.")
    account: AccountPublic = Field(
        description="Where the recipients of your campaigns ended, summed state by state: "
        "the same account each campaign's queue-status gives."
    )
    funnel: FunnelPublic = Field(
        description="Delivery funnel summed over your running and recently run campaigns."
    )
    system: SystemMetricsPublic


class DashboardPublic(ApiModel):
    success: bool = True
    metrics: DashboardMetricsPublic


class AlertPublic(ApiModel):
    name: str
    message: str
    details: dict[str, float | int | str]
    raised_at: datetime


class AlertsPublic(ApiModel):
    success: bool = True
    alerts: list[AlertPublic]
