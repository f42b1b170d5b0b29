"""The whole system as separate processes on the real stack, driven over REST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.processes import ProcessTable, free_port
from devstack.system import API_TOKENS, TOKEN, System
from shared.settings import Settings
from tests.conftest import settings_environment

__all__ = ["TOKEN", "System", "make_system", "sandbox_admin"]


@pytest.fixture
def make_system(make_settings, tmp_path: Path) -> Iterator:
    systems: list[System] = []

    def build(sender_replicas: int = 1, public_api: bool = False, **overrides: object) -> System:
        # public_api: PUBLIC_BASE_URL is the api's own URL, so the sandbox's status
        # callbacks reach it.
        api_port = free_port()
        if public_api:
            overrides["public_base_url"] = f"http://127.0.0.1:{api_port}"
        shared = {k: v for k, v in overrides.items() if k in Settings.model_fields}
        settings = make_settings(**shared)
        env = settings_environment(settings)
        # Settings of one service only (SEND_MAX_ATTEMPTS, say) go straight to the
        # environment: the shared model would drop them.
        env.update({k.upper(): str(v) for k, v in overrides.items() if k not in shared})
        env["API_TOKENS"] = API_TOKENS
        env["DISPATCHER_DATA_DIR"] = str(tmp_path / "dispatcher")
        system = System(
            env=env,
            table=ProcessTable(tmp_path / f"run{len(systems)}"),
            sandbox_url=settings.twilio_base_url or "",
            sender_replicas=sender_replicas,
            api_port=api_port,
        )
        systems.append(system)
        system.start_all()
        return system

    build.systems = systems  # type: ignore[attr-defined]  # read by the failure report
    yield build
    for system in systems:
        system.stop_all()


@pytest.fixture
def sandbox_admin(stack) -> Iterator[httpx.Client]:
    """The sandbox's admin endpoints; faults and ledger are reset around each test."""
    with httpx.Client(base_url=stack.sandbox_url, timeout=30) as client:
        client.delete("/_sandbox/faults").raise_for_status()
        client.delete("/_sandbox/ledger").raise_for_status()
        yield client
        client.delete("/_sandbox/faults").raise_for_status()
