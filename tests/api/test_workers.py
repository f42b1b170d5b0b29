"""``python -m services.api`` with API_WORKERS: several processes on one port, one
dashboard cache invalidation across them, a clean stop on SIGTERM, a bad count refused."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from services.api.settings import ApiSettings
from tests.api.conftest import ADMIN_TOKEN, API_TOKENS, valid_phone
from tests.conftest import settings_environment
from tests.helpers import eventually, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "/api/dashboard/campaign-queue-metrics"


def _environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS", "API_"))}
    env.update(values)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@pytest.mark.parametrize("workers", ["0", "abc"])
async def test_a_bad_worker_count_stops_the_api_with_one_line(workers: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.api",
        env=_environment(API_WORKERS=workers),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: API_WORKERS:"), lines


@asynccontextmanager
async def api_process(
    env: dict[str, str], port: int, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.api",
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=out,
        )
    try:

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    answer = await client.get(f"http://127.0.0.1:{port}/health")
                return answer.status_code == 200
            except httpx.HTTPError:
                assert process.returncode is None, "the api exited while starting"
                return False

        await eventually(healthy, timeout_s=90, what="api with two workers healthy")
        yield process
    finally:
        if process.returncode is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            await process.wait()


def _workers(pid: int) -> list[psutil.Process]:
    """The supervisor's worker processes (multiprocessing also starts a resource tracker)."""
    return [
        child
        for child in psutil.Process(pid).children()
        if any("spawn_main" in part for part in child.cmdline())
    ]


async def _dashboard(base_url: str) -> dict:
    # A client per request: a new connection, which either worker may accept. An admin's
    # dashboard, as only admins see the system part (with each worker's uptime).
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        answer = await client.get(DASHBOARD)
    assert answer.status_code == 200, answer.text
    return answer.json()["metrics"]


async def _dashboards(base_url: str, count: int) -> list[dict]:
    return list(await asyncio.gather(*(_dashboard(base_url) for _ in range(count))))


BURST = 10


async def test_two_workers_serve_drop_cached_dashboards_together_and_stop_on_sigterm(
    make_settings, tmp_path: Path
) -> None:
    port = free_port()
    # Summaries cached for 30 s: only the invalidation can show a pause within the test.
    settings = make_settings(
        ApiSettings, api_tokens=API_TOKENS, api_port=port, api_workers=2, dashboard_cache_s=30
    )
    env = _environment(**settings_environment(settings))
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    async with api_process(env, port, log) as process:
        workers = _workers(process.pid)
        assert len(workers) == 2, workers

        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as admin:
            body = {"name": "c", "message": "hi", "contacts": [{"phone": valid_phone(0)}]}
            created = await admin.post("/api/campaigns", json=body)
            assert created.status_code == 201, created.text
            campaign_id = created.json()["id"]
            assert (await admin.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200

            # A worker's cached summary keeps its uptime: two values, two workers' caches.
            uptimes: set[float] = set()

            # Which worker accepts a connection is the kernel's choice: ask in bursts of
            # concurrent connections until both have answered.
            async def both_workers_cached() -> bool:
                for metrics in await _dashboards(base_url, BURST):
                    assert metrics["campaignQueue"]["waiting"] == 1
                    uptimes.add(metrics["system"]["uptimeS"])
                return len(uptimes) == 2

            await eventually(both_workers_cached, timeout_s=30, what="both workers answered")

            paused = await admin.post(f"/api/campaigns/{campaign_id}/queue-pause")
            assert paused.status_code == 200, paused.text
            seen_after: set[float] = set()

            async def both_workers_show_the_pause() -> bool:
                for metrics in await _dashboards(base_url, BURST):
                    queue = metrics["campaignQueue"]
                    assert (queue["waiting"], queue["paused"]) == (0, 1), queue
                    seen_after.add(metrics["system"]["uptimeS"])
                # Each worker computed its summary again once, and caches that one.
                return len(seen_after) == 2

            await eventually(
                both_workers_show_the_pause, timeout_s=30, what="both workers showed the pause"
            )

            status = await admin.get(f"/api/campaigns/{campaign_id}/queue-status")
            assert status.status_code == 200 and status.json()["status"]["status"] == "paused"

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=60)
        assert process.returncode == 0
        assert not any(worker.is_running() for worker in workers)
        lines = log.read_text().splitlines()
        assert not [line for line in lines if "Traceback" in line or '"level": "error"' in line], (
            lines
        )
        # Each worker closed its connections: its lifespan ran to the end.
        assert sum('"service stopped"' in line for line in lines) == 2, lines
