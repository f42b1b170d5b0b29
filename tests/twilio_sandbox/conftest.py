"""Fixtures for the Twilio sandbox tests: a running sandbox, a clean slate, polling helpers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from twilio.rest import Client

from shared.twilio_client import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, make_twilio_client

POLL_INTERVAL_S = 0.02


@dataclass(frozen=True)
class SandboxEndpoint:
    url: str
    account_sid: str
    auth_token: str


def wait_until(
    predicate: Callable[[], object], timeout_s: float, message: str = "condition"
) -> object:
    """Poll predicate until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {message}")
        time.sleep(POLL_INTERVAL_S)


async def async_wait_until(
    predicate: Callable[[], Awaitable[object] | object],
    timeout_s: float,
    message: str = "condition",
) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {message}")
        await asyncio.sleep(POLL_INTERVAL_S)


@pytest.fixture(scope="session")
def sandbox(stack) -> SandboxEndpoint:
    """The session's sandbox (see tests/conftest.py), with the credentials it was started with."""
    return SandboxEndpoint(
        url=stack.sandbox_url.rstrip("/"),
        account_sid=os.environ.get("SANDBOX_ACCOUNT_SID", SANDBOX_ACCOUNT_SID),
        auth_token=os.environ.get("SANDBOX_AUTH_TOKEN", SANDBOX_AUTH_TOKEN),
    )


@pytest.fixture(scope="session")
def admin(sandbox: SandboxEndpoint) -> Iterator[httpx.Client]:
    """Plain HTTP client for the /_sandbox/* endpoints (the Messages API goes via twilio)."""
    with httpx.Client(base_url=sandbox.url, timeout=5.0) as client:
        yield client


def _reset(admin: httpx.Client) -> None:
    admin.delete("/_sandbox/ledger").raise_for_status()
    admin.delete("/_sandbox/faults").raise_for_status()


@pytest.fixture
def clean_sandbox(admin: httpx.Client) -> Iterator[httpx.Client]:
    _reset(admin)
    yield admin
    _reset(admin)


@pytest.fixture
def twilio_client(sandbox: SandboxEndpoint) -> Client:
    return make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.url, use_async=False)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., object]:
    return wait_until


@pytest.fixture(name="async_wait_until")
def async_wait_until_fixture() -> Callable[..., Awaitable[object]]:
    return async_wait_until


@dataclass(frozen=True)
class ReceivedCallback:
    path_qs: str
    params: dict[str, str]
    signature: str | None


@dataclass
class CallbackReceiver:
    """An in-test HTTP server standing in for the project's status-callback endpoint."""

    base_url: str
    received: list[ReceivedCallback] = field(default_factory=list)

    def url(self, path_qs: str = "/twilio/status") -> str:
        return f"{self.base_url}{path_qs}"

    def statuses_for(self, message_sid: str) -> list[str]:
        return [c.params["MessageStatus"] for c in self.for_sid(message_sid)]

    def for_sid(self, message_sid: str) -> list[ReceivedCallback]:
        return [c for c in self.received if c.params.get("MessageSid") == message_sid]


@pytest_asyncio.fixture
async def callback_receiver() -> AsyncIterator[CallbackReceiver]:
    received: list[ReceivedCallback] = []

    async def record(request: web.Request) -> web.Response:
        form = await request.post()
        params = {name: str(value) for name, value in form.items()}
        signature = request.headers.get("X-Twilio-Signature")
        received.append(ReceivedCallback(request.path_qs, params, signature))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield CallbackReceiver(base_url=f"http://127.0.0.1:{port}", received=received)
    finally:
        await runner.cleanup()
