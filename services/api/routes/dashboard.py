"""The queue dashboard."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request

from services.api.dashboard import DashboardPublic
from services.api.deps import CurrentUser, DashboardServiceDep
from services.api.models import ApiModel

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


@router.get("/campaign-queue-metrics", response_model=DashboardPublic)
async def campaign_queue_metrics(
    user: CurrentUser, service: DashboardServiceDep
) -> DashboardPublic:
    """Your campaigns by status, their backlog, totals and funnel; for admins also
    consumer lag per topic and the system state (``system`` is null for marketers)."""
    return DashboardPublic(metrics=await service.metrics(user))


class AlertPublic(ApiModel):
    name: str
    message: str
    details: dict[str, float | int | str]
    raised_at: datetime


class AlertsPublic(ApiModel):
    success: bool = True
    alerts: list[AlertPublic]


@router.get("/alerts", response_model=AlertsPublic)
async def active_alerts(user: CurrentUser, request: Request) -> AlertsPublic:
    """The alerts holding now: circuit breaker open, failure rate, processing time,
    saturated queues. Each clears itself when its condition ends."""
    alerts = await request.app.state.alert_store.active()
    return AlertsPublic(
        alerts=[
            AlertPublic(name=a.name, message=a.message, details=a.details, raised_at=a.occurred_at)
            for a in alerts
        ]
    )
