"""The FastAPI application: built from settings, connections opened in its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.routes import health
from services.api.settings import ApiSettings
from shared.runtime import Connections

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = Connections(settings)
        await connections.open()
        app.state.settings = settings
        app.state.connections = connections
        log.info("service initialised", extra={"service_name": "api"})
        try:
            yield
        finally:
            await connections.close()
            log.info("service stopped", extra={"service_name": "api"})

    app = FastAPI(
        title="Campaign queue",
        version="0.1.0",
        summary="WhatsApp campaigns through Twilio on Kafka.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    return app
