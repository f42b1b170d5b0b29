"""The queue dashboard."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import AlertStoreDep, CurrentUser, DashboardServiceDep
from services.api.schemas.dashboard import AlertPublic, AlertsPublic, DashboardPublic
from services.api.schemas.errors import errors

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"], responses=errors(401))


@router.get("/campaign-queue-metrics", response_model=DashboardPublic)
async def campaign_queue_metrics(
    user: CurrentUser, service: DashboardServiceDep
) -> DashboardPublic:
    """Your campaigns by status, their backlog, totals and funnel; for admins also
    consumer lag per topic and the system state (``system`` is null for marketers)."""
    return DashboardPublic(metrics=await service.metrics(user))


@router.get("/alerts", response_model=AlertsPublic)
async def active_alerts(user: CurrentUser, store: AlertStoreDep) -> AlertsPublic:
    """The alerts holding now: circuit breaker open, failure rate, processing time,
    saturated queues. Each clears itself when its condition ends."""
    alerts = await store.active()
    return AlertsPublic(
        alerts=[
            AlertPublic(name=a.name, message=a.message, details=a.details, raised_at=a.occurred_at)
            for a in alerts
        ]
    )
