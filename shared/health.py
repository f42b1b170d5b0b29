"""A small HTTP endpoint for services that have no web server of their own:
GET /health for probes and GET /metrics for Prometheus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]


async def run_probes(probes: Mapping[str, Probe]) -> tuple[bool, dict[str, object]]:
    """Run every probe at once; healthy when all of them answer True."""
    results = await asyncio.gather(*(probe() for probe in probes.values()))
    report: dict[str, object] = dict(zip(probes, results, strict=True))
    healthy = all(results)
    report["status"] = "ok" if healthy else "degraded"
    return healthy, report


class HealthServer:
    """Serves GET /health: 200 with each dependency's state, or 503 when one is down."""

    def __init__(self, host: str, port: int, probes: Mapping[str, Probe]) -> None:
        self._host = host
        self._port = port
        self._probes = probes
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # Port 0 asks the OS for a free port; report the one it gave.
        sockets = site._server.sockets if site._server else []  # aiohttp exposes no public getter
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("health endpoint listening", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _health(self, _request: web.Request) -> web.Response:
        healthy, report = await run_probes(self._probes)
        return web.json_response(report, status=200 if healthy else 503)
