"""The dashboard's bodies: the queue summary and the active alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from services.api.schemas.queue_status import FunnelPublic


class CampaignQueueCountsPublic(ApiModel):
    waiting: int = 0  # queued: accepted, not yet picked up by the dispatcher
    active: int = 0  # sending
    completed: int = 0
    failed: int = 0
    paused: int = 0
    scheduled: int = 0
    draft: int = 0
    stopped: int = 0


class ProcessingQueuePublic(ApiModel):
    in_flight_batches: int
    pending_messages: int
    consumer_lag: dict[str, int]
    consumer_groups: dict[str, dict[str, int]]


class TotalsPublic(ApiModel):
    sent: int
    failed: int


class SystemMetricsPublic(ApiModel):
    active_workers: int
    # Replica id -> its circuit breaker: closed, open or half_open.
    circuit_breakers: dict[str, str]
    # All replicas as one: open if any is open, then half_open; unknown with none alive.
    circuit_breaker: str
    uptime_s: float
    redis: dict[str, object]
    kafka: dict[str, object]
    average_processing_time_ms: int | None
    totals: TotalsPublic
    funnel: FunnelPublic = Field(
        default_factory=lambda: FunnelPublic(),
        description="Delivery funnel summed over your running and recently run campaigns.",
    )


class DashboardMetricsPublic(ApiModel):
    campaign_queue: CampaignQueueCountsPublic
    processing_queue: ProcessingQueuePublic
    totals: TotalsPublic = Field(description="Sent and failed over your campaigns.")
    funnel: FunnelPublic = Field(
        description="Delivery funnel summed over your running and recently run campaigns."
    )
    system: SystemMetricsPublic | None = Field(
        description="Infrastructure (workers, breakers, Kafka, Redis): admins only, else null."
    )


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
