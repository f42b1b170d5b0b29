"""GET /metrics: the api's Prometheus metrics, refreshed from Kafka and Redis per scrape.

Campaigns by status and consumer lag describe the whole system, so the api (which
reads both anyway for the dashboard) reports them; each other service reports its
own work on its health port.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.metrics import CAMPAIGNS, CONSUMER_LAG
from shared.store.campaigns import CampaignStatus

router = APIRouter(tags=["health"])
STATUSES: tuple[CampaignStatus, ...] = (
    "draft", "scheduled", "queued", "sending", "throttled", "paused", "stopped", "completed",
    "failed",
)  # fmt: skip


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format. Campaigns counted are the running and recently run ones."""
    state = request.app.state
    records = await state.campaign_store.get_many(await state.campaign_store.active_ids())
    counts = Counter(record.status for record in records if record is not None)
    for status in STATUSES:
        CAMPAIGNS.labels(status=status).set(counts[status])
    monitor = state.lag_monitor
    await monitor.lag()
    for (group, topic, partition), behind in monitor.by_partition.items():
        CONSUMER_LAG.labels(group=group, topic=topic, partition=str(partition)).set(behind)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
