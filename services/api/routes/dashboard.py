"""The queue dashboard."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.dashboard import DashboardPublic
from services.api.deps import CurrentUser, DashboardServiceDep

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


@router.get("/campaign-queue-metrics", response_model=DashboardPublic)
async def campaign_queue_metrics(
    user: CurrentUser, service: DashboardServiceDep
) -> DashboardPublic:
    """Campaign counts by status, backlog and consumer lag per topic, system state."""
    return DashboardPublic(metrics=await service.metrics(user))
