"""The FastAPI application: built from settings, connections opened in its lifespan.

``python -m services.api`` serves one app in its own process when API_WORKERS is 1;
with more, uvicorn's supervisor starts that many worker processes, and each builds its
app with :func:`worker_app` from the environment: its own settings, logging, tracing and
connections. Whatever must agree across workers lives in Redis (campaigns, tokens,
alerts, the dashboard's generation counters); a worker only caches, briefly, what it
read from Redis or Kafka.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from services.api.alerts import AlertMonitor, AlertStore
from services.api.auth import TokenRegistry
from services.api.body_limit import BodyLimit
from services.api.campaign_creation import CampaignCreator
from services.api.campaigns import CampaignReader, CampaignService
from services.api.contacts_store import ContactStore
from services.api.dashboard import DashboardGenerations, DashboardService
from services.api.drafts import CampaignDrafts
from services.api.errors import install_error_handlers
from services.api.lag import ConsumerLagMonitor
from services.api.lists_store import ListStore
from services.api.openapi_docs import docs_router
from services.api.parameter_guard import refuse_nul_parameters
from services.api.preview import CampaignPreviewer
from services.api.publisher import CampaignEventPublisher
from services.api.redis_moves import move_records_from_redis
from services.api.routes import (
    before_send,
    campaigns,
    contacts,
    control,
    dashboard,
    drafts,
    health,
    lists,
    live,
    rate_series,
    recipients,
    suppressions,
    tokens,
    web,
    webhooks,
)
from services.api.routes.metrics import MetricsServer
from services.api.senders import live_breakers
from services.api.settings import ApiSettings
from services.api.test_send import TestSender
from shared.gc_tuning import tune_garbage_collector
from shared.logging import configure_logging, register_secret
from shared.redis import Keys
from shared.runtime import Connections
from shared.settings import load_settings
from shared.store.campaigns import CampaignStore
from shared.store.drafts import DraftStore
from shared.store.funnel import FunnelStore
from shared.store.holding import HoldingStore
from shared.store.progress import ProgressStore
from shared.store.rate_series import RateSeriesStore
from shared.store.recipients import RecipientStore
from shared.store.stats import StatsStore
from shared.topics import Topics
from shared.tracing import instrument_redis, setup_tracing, shutdown_tracing, tracing_enabled

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings, on_stopped: Callable[[], None] | None = None) -> FastAPI:
    """The app; ``on_stopped`` runs once its lifespan has closed the connections."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = Connections(settings, database=True)
        await connections.open()
        keys = Keys(settings.redis_key_prefix)
        campaign_store = CampaignStore(connections.database, connections.redis, keys)
        progress_store = ProgressStore(connections.redis, keys)
        contact_store = ContactStore(connections.database)
        recipient_store = RecipientStore(connections.database)
        list_store = ListStore(connections.database)
        publisher = CampaignEventPublisher(
            connections.producer, Topics.from_settings(settings).campaign_events
        )
        lag_monitor = ConsumerLagMonitor(settings, settings.consumer_lag_cache_s)
        state = app.state
        state.settings = settings
        state.connections = connections
        await move_records_from_redis(
            connections.redis,
            keys,
            connections.database,
            contact_store,
            recipient_store,
            campaign_store,
            settings.twilio_credentials[0],
        )
        state.tokens = TokenRegistry(connections.database, settings.static_tokens)
        state.campaign_store = campaign_store
        state.lag_monitor = lag_monitor
        state.progress_store = progress_store
        state.contact_store = contact_store
        state.recipient_store = recipient_store
        state.rate_series_store = RateSeriesStore(connections.redis, keys)
        state.list_store = list_store
        breakers = functools.partial(
            live_breakers, connections.redis, keys, settings.worker_heartbeat_timeout_s
        )
        generations = DashboardGenerations(connections.redis, keys)
        state.campaign_reader = CampaignReader(
            settings,
            campaign_store,
            progress_store,
            held=HoldingStore(connections.redis, keys),
            funnels=FunnelStore(connections.redis, keys),
        )
        state.campaign_creator = CampaignCreator(
            settings,
            campaign_store,
            recipient_store,
            contact_store,
            list_store,
            publisher,
            changed=generations.bump,
        )
        state.campaign_service = CampaignService(
            settings,
            state.campaign_reader,
            campaign_store,
            recipient_store,
            progress_store,
            publisher,
            changed=generations.bump,
        )
        state.campaign_previewer = CampaignPreviewer(
            state.campaign_reader, state.campaign_creator, recipient_store
        )
        state.campaign_drafts = CampaignDrafts(
            state.campaign_reader,
            state.campaign_creator,
            campaign_store,
            recipient_store,
            DraftStore(connections.database, campaign_store),
            publisher,
            changed=generations.bump,
        )
        state.test_sender = TestSender(
            settings, state.campaign_reader, recipient_store, connections.producer
        )
        state.dashboard_service = DashboardService(
            settings, connections, campaign_store, progress_store, lag_monitor, generations
        )
        state.alert_store = AlertStore(connections.redis, keys)
        alert_monitor = AlertMonitor(
            settings,
            state.alert_store,
            StatsStore(connections.redis, keys),
            breakers,
            lag_monitor,
            connections.producer,
            Topics.from_settings(settings).alerts,
        )
        alert_monitor.start()
        state.metrics_server = MetricsServer(
            settings.health_host,
            settings.api_metrics_port,
            connections.probes(),
            campaign_store,
            lag_monitor,
            progress_store,
            FunnelStore(connections.redis, keys),
        )
        await state.metrics_server.start()
        log.info("service initialised", extra={"service_name": "api"})
        try:
            yield
        finally:
            await state.metrics_server.stop()
            await alert_monitor.stop()
            await lag_monitor.close()
            await connections.close()
            log.info("service stopped", extra={"service_name": "api"})
            if on_stopped is not None:
                on_stopped()

    app = FastAPI(
        title="Campaign queue",
        version="0.1.0",
        summary="WhatsApp campaigns through Twilio on Kafka.",
        lifespan=lifespan,
        # FastAPI's own pages load from a CDN; openapi_docs serves them from this origin.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul_parameters)],
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.api_max_body_bytes,
        max_import_bytes=settings.api_max_import_bytes,
    )
    app.include_router(health.router)
    # Before campaigns: `POST /api/campaigns/preview` is not a campaign named "preview".
    app.include_router(before_send.router)
    app.include_router(campaigns.router)
    app.include_router(drafts.router)
    app.include_router(control.router)
    app.include_router(contacts.router)
    app.include_router(lists.router)
    app.include_router(dashboard.router)
    app.include_router(live.router)
    app.include_router(rate_series.router)
    app.include_router(web.router)
    app.include_router(recipients.router)
    app.include_router(suppressions.router)
    app.include_router(tokens.router)
    app.include_router(webhooks.router)
    app.include_router(docs_router(app))
    return app


def traced_app(settings: ApiSettings, on_stopped: Callable[[], None] | None = None) -> FastAPI:
    """The app with tracing set up for this process (when OTEL_* asks for it)."""
    setup_tracing("api")
    instrument_redis()
    app = create_app(settings, on_stopped)
    if tracing_enabled():
        FastAPIInstrumentor.instrument_app(app, excluded_urls="health,metrics")
    return app


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process (``services.api.app:worker_app``).

    A worker is a fresh interpreter (multiprocessing's spawn), so it sets up what the
    parent set up for itself: settings from the environment (the parent checked them),
    secrets to mask, logging and tracing. It flushes its spans when its lifespan ends:
    after a graceful shutdown uvicorn re-raises SIGTERM, and a worker ends by it.
    """
    _stop_with_parent()
    settings = load_settings(ApiSettings)
    for token in settings.static_tokens:
        register_secret(token)  # bearer tokens are as secret as the Twilio one
    configure_logging("api", settings.log_level)
    app = traced_app(settings, on_stopped=shutdown_tracing)
    tune_garbage_collector()
    return app


PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the supervisor dies, even by SIGKILL, so
    no worker keeps serving (and holding the port) without it. Graceful, like a stop."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
