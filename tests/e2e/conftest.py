"""The whole system as separate processes on the real stack, driven over REST."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devstack.processes import ProcessTable, await_ready, http_ok
from devstack.stack import start_python
from shared.settings import Settings
from tests.conftest import settings_environment
from tests.helpers import free_port

TOKEN = "e2e-token"
SERVICES = ("api", "dispatcher", "sender", "metrics")


@dataclass
class System:
    """api, dispatcher, metrics and N senders, started and stopped by pid."""

    env: dict[str, str]
    table: ProcessTable
    sandbox_url: str
    api_port: int = field(default_factory=free_port)
    sender_replicas: int = 1
    # Processes started beside the usual ones (a replacement replica, say).
    extras: list[str] = field(default_factory=list)
    health_urls: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, env: dict[str, str] | None = None) -> None:
        extra = {**self.env, **(env or {})}
        if name == "api":
            extra["API_PORT"] = str(self.api_port)
            health = f"{self.api_url}/health"
        else:
            port = free_port()
            extra["HEALTH_PORT"] = str(port)
            extra["SENDER_REPLICA_ID"] = name
            health = f"http://127.0.0.1:{port}/health"
        module = "sender" if name.startswith("sender") else name
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
        self.health_urls[name] = health
        tracked = start_python(self.table, name, ["-m", f"services.{module}"], base, extra)
        await_ready(tracked, lambda: http_ok(health), 60, f"service {name}")

    def names(self) -> list[str]:
        senders = [f"sender-{n}" for n in range(self.sender_replicas)]
        return ["metrics", "dispatcher", *senders, "api"]

    def start_all(self) -> None:
        for name in self.names():
            self.start(name)

    def start_extra(self, name: str, env: dict[str, str] | None = None) -> None:
        self.extras.append(name)
        self.start(name, env)

    def stop_all(self) -> None:
        for name in [*reversed(self.names()), *self.extras]:
            self.table.stop(name)

    def client(self, token: str = TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def sandbox(self) -> httpx.Client:
        return httpx.Client(base_url=self.sandbox_url, timeout=30)


@pytest.fixture
def make_system(make_settings, tmp_path: Path) -> Iterator:
    systems: list[System] = []

    def build(sender_replicas: int = 1, **overrides: object) -> System:
        shared = {k: v for k, v in overrides.items() if k in Settings.model_fields}
        settings = make_settings(**shared)
        env = settings_environment(settings)
        # Settings of one service only (SEND_MAX_ATTEMPTS, say) go straight to the
        # environment: the shared model would drop them.
        env.update({k.upper(): str(v) for k, v in overrides.items() if k not in shared})
        env["API_TOKENS"] = f"marketer:{TOKEN},other:other-token"
        env["DISPATCHER_DATA_DIR"] = str(tmp_path / "dispatcher")
        system = System(
            env=env,
            table=ProcessTable(tmp_path / f"run{len(systems)}"),
            sandbox_url=settings.twilio_base_url or "",
            sender_replicas=sender_replicas,
        )
        systems.append(system)
        system.start_all()
        return system

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
