"""GET /metrics: the api's Prometheus metrics, refreshed from Kafka and Redis per scrape.

Campaigns by status and consumer lag describe the whole system, so the api (which
reads both anyway for the dashboard) reports them; each other service reports its
own work on its health port.

They are served on their own port (API_METRICS_PORT), never on the public API port:
they name every tenant's load and the infrastructure, and need no token because only
the scraper can reach that port. Like the other services' health port, it answers
GET /health too (shared/health.py).
"""

from __future__ import annotations

import logging
from collections import Counter

from aiohttp import web

from services.api.lag import ConsumerLagMonitor
from shared.account import ACCOUNT_STATES, account_of
from shared.health import HealthServer, Probe
from shared.lifecycle import STATUSES
from shared.metrics import CAMPAIGN_RECIPIENTS, CAMPAIGN_SUCCESS_RATE, CAMPAIGNS, CONSUMER_LAG
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore

log = logging.getLogger(__name__)


async def refresh_metrics(
    campaigns: CampaignStore,
    lag: ConsumerLagMonitor,
    progress: ProgressStore,
    funnels: FunnelStore,
    exported: set[str],
) -> None:
    """Set the gauges read from Redis and Kafka. Campaigns counted are the running and
    recently run ones; ``exported`` holds the campaigns whose account was last exported,
    so that one no longer active leaves the gauges."""
    ids = await campaigns.active_ids()
    records = await campaigns.get_many(ids)
    counts = Counter(record.status for record in records if record is not None)
    # Every status, a zero too: a series that disappears reads as no data, not as none.
    for status in STATUSES:
        CAMPAIGNS.labels(status=status).set(counts[status])
    shown = [(i, r) for i, r in zip(ids, records, strict=True) if r is not None]
    progresses = await progress.read_many([i for i, _ in shown])
    funnel_of = await funnels.read_many([i for i, _ in shown])
    for (campaign_id, record), p, f in zip(shown, progresses, funnel_of, strict=True):
        account = account_of(p, f, record.total)
        for state in ACCOUNT_STATES:
            CAMPAIGN_RECIPIENTS.labels(campaign=campaign_id, state=state).set(
                getattr(account, state)
            )
        CAMPAIGN_SUCCESS_RATE.labels(campaign=campaign_id).set(account.success_rate)
    now = {campaign_id for campaign_id, _ in shown}
    for gone in exported - now:
        for state in ACCOUNT_STATES:
            CAMPAIGN_RECIPIENTS.remove(gone, state)
        CAMPAIGN_SUCCESS_RATE.remove(gone)
    exported.clear()
    exported.update(now)
    await lag.lag()
    for (group, topic, partition), behind in lag.by_partition.items():
        CONSUMER_LAG.labels(group=group, topic=topic, partition=str(partition)).set(behind)


class MetricsServer(HealthServer):
    """The health server of shared/health.py, refreshing the api's gauges per scrape.

    Bound with SO_REUSEPORT: with API_WORKERS > 1 every worker serves the same port, as
    they share the API socket, and any of them answers a scrape alike (the gauges come
    from Redis and Kafka).
    """

    def __init__(
        self,
        host: str,
        port: int,
        probes: dict[str, Probe],
        campaigns: CampaignStore,
        lag: ConsumerLagMonitor,
        progress: ProgressStore,
        funnels: FunnelStore,
    ) -> None:
        super().__init__(host, port, probes)
        self._campaigns = campaigns
        self._lag = lag
        self._progress = progress
        self._funnels = funnels
        self._exported: set[str] = set()
        self._metrics_runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        site = web.TCPSite(self._metrics_runner, self._host, self._port, reuse_port=True)
        await site.start()
        # Port 0 asks the OS for a free port; report the one it gave.
        sockets = site._server.sockets if site._server else []  # aiohttp exposes no public getter
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("metrics endpoint listening", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        await refresh_metrics(
            self._campaigns, self._lag, self._progress, self._funnels, self._exported
        )
        return await super()._metrics(request)
