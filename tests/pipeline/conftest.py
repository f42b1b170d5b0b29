"""Services run in-process on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.runtime import Service


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    try:
        await service.start()
        yield service
    finally:
        await service.stop()
