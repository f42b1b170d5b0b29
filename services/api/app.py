"""The FastAPI application: built from settings, connections opened in its lifespan."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.alerts import AlertMonitor, AlertStore
from services.api.auth import TokenRegistry
from services.api.campaigns import CampaignService
from services.api.contacts_store import ContactStore
from services.api.dashboard import DashboardService
from services.api.errors import install_error_handlers
from services.api.lag import ConsumerLagMonitor
from services.api.publisher import CampaignEventPublisher
from services.api.routes import (
    campaigns,
    contacts,
    control,
    dashboard,
    health,
    live,
    metrics,
    suppressions,
    web,
    webhooks,
)
from services.api.senders import live_breakers
from services.api.settings import ApiSettings
from shared.redis import Keys
from shared.runtime import Connections
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.held import HeldCommands
from shared.store.progress import ProgressStore
from shared.store.stats import StatsStore
from shared.topics import Topics

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = Connections(settings)
        await connections.open()
        keys = Keys(settings.redis_key_prefix)
        campaign_store = CampaignStore(connections.redis, keys)
        progress_store = ProgressStore(connections.redis, keys)
        contact_store = ContactStore(connections.redis, keys)
        publisher = CampaignEventPublisher(
            connections.producer, Topics.from_settings(settings).campaign_events
        )
        lag_monitor = ConsumerLagMonitor(settings, settings.consumer_lag_cache_s)
        state = app.state
        state.settings = settings
        state.connections = connections
        state.tokens = TokenRegistry(connections.redis, keys, settings.static_tokens)
        state.campaign_store = campaign_store
        state.lag_monitor = lag_monitor
        state.progress_store = progress_store
        state.contact_store = contact_store
        breakers = functools.partial(
            live_breakers, connections.redis, keys, settings.worker_heartbeat_timeout_s
        )
        state.campaign_service = CampaignService(
            settings,
            campaign_store,
            progress_store,
            contact_store,
            publisher,
            sender_breakers=breakers,
            held=HeldCommands(connections.redis, keys),
            funnels=FunnelStore(connections.redis, keys),
        )
        state.dashboard_service = DashboardService(
            settings, connections, campaign_store, progress_store, lag_monitor
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
        log.info("service initialised", extra={"service_name": "api"})
        try:
            yield
        finally:
            await alert_monitor.stop()
            await lag_monitor.close()
            await connections.close()
            log.info("service stopped", extra={"service_name": "api"})

    app = FastAPI(
        title="Campaign queue",
        version="0.1.0",
        summary="WhatsApp campaigns through Twilio on Kafka.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(campaigns.router)
    app.include_router(control.router)
    app.include_router(contacts.router)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.include_router(live.router)
    app.include_router(web.router)
    app.include_router(suppressions.router)
    app.include_router(webhooks.router)
    return app
