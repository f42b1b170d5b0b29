"""The Twilio gateway against the sandbox: Retry-After, error classes, the circuit breaker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiobreaker.state import CircuitBreakerState

from services.sender.settings import SenderSettings
from services.sender.twilio_gateway import BreakerOpen, SendError, TwilioGateway
from shared.events.models import TextContent
from tests.sender.conftest import text_command

REPO = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def open_gateway() -> AsyncIterator[Callable]:
    gateways: list[TwilioGateway] = []

    async def open_(settings: SenderSettings) -> TwilioGateway:
        gateway = TwilioGateway(settings)
        await gateway.open()
        gateways.append(gateway)
        return gateway

    try:
        yield open_
    finally:
        for gateway in gateways:
            await gateway.close()


def test_the_messages_resource_is_loaded_when_the_gateway_opens() -> None:
    # Loaded on the first send instead, it would delay that send after its limiter grant.
    script = """
import asyncio, sys
from services.sender.settings import SenderSettings
from services.sender.twilio_gateway import TwilioGateway

MESSAGES = "twilio.rest.api.v2010.account.message"
assert MESSAGES not in sys.modules

async def main():
    # Real Twilio: the sandbox's base URL would load the API domain early anyway.
    settings = SenderSettings(twilio_account_sid="AC" + "1" * 32, twilio_auth_token="token")
    gateway = TwilioGateway(settings)
    await gateway.open()
    await gateway.close()

asyncio.run(main())
assert MESSAGES in sys.modules, "not loaded by open()"
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]


async def test_a_429_carries_twilio_retry_after(
    sender_settings, numbers, sandbox, open_gateway
) -> None:
    await sandbox.set_faults(force_429_rate=1.0)
    gateway = await open_gateway(sender_settings())
    command = text_command("c", "k", numbers.recipient(1), numbers.sender)
    with pytest.raises(SendError) as raised:
        await gateway.create(command)
    error = raised.value
    assert (error.code, error.http_status, error.retry_after_s) == (20429, 429, 1.0)
    assert error.retryable and not error.outcome_unknown
    # 429s say nothing about an outage: the breaker stays closed.
    assert gateway.breaker_state is CircuitBreakerState.CLOSED


async def test_the_form_and_the_credentials_reach_twilio_as_the_base_client_sent_them(
    sender_settings, numbers, open_gateway
) -> None:
    # The gateway's HTTP client encodes the form and the Basic header itself.
    gateway = await open_gateway(sender_settings())
    since = datetime.now(UTC) - timedelta(minutes=1)
    body = "Hola Zoë & Ana: 100% = ¡sí! + 🎉 ?a=b;c"
    command = text_command("c", "form", numbers.recipient(5), numbers.sender).model_copy(
        update={"content": TextContent(body=body)}
    )
    sid = await gateway.create(command)
    # The lookup compares the body Twilio keeps with the command's, character for character.
    assert await gateway.find_sent(command, since) == sid

    account, _ = sender_settings().twilio_credentials
    wrong = sender_settings(twilio_account_sid=account, twilio_auth_token="not-the-token")
    refused = await open_gateway(wrong)
    with pytest.raises(SendError) as raised:
        await refused.create(command)
    assert (raised.value.code, raised.value.http_status) == (20003, 401)


async def test_an_outage_opens_the_breaker_but_refusals_do_not(
    sender_settings, numbers, sandbox, open_gateway
) -> None:
    gateway = await open_gateway(sender_settings(breaker_fail_max=3, breaker_reset_s=1))
    refused = text_command("c", "bad", numbers.recipient(1, "0000"), numbers.sender)
    for _ in range(5):
        with pytest.raises(SendError) as raised:
            await gateway.create(refused)
        assert (raised.value.code, raised.value.retryable) == (21211, False)
    assert gateway.breaker_state is CircuitBreakerState.CLOSED

    await sandbox.set_faults(outage_s=30)
    command = text_command("c", "k", numbers.recipient(2), numbers.sender)
    for _ in range(3):
        with pytest.raises(SendError) as raised:
            await gateway.create(command)
        assert raised.value.http_status == 503 and raised.value.retryable
    assert gateway.breaker_state is CircuitBreakerState.OPEN

    # While open, callers wait instead of failing; after the reset one trial goes through.
    waiting = asyncio.create_task(gateway.wait_until_closed())
    await asyncio.sleep(0)
    assert not waiting.done()
    await sandbox.reset_faults()
    await asyncio.wait_for(waiting, timeout=5)
    sid = await gateway.create(command)
    assert sid.startswith("SM")
    assert gateway.breaker_state is CircuitBreakerState.CLOSED


async def test_a_500_leaves_the_outcome_unknown_and_a_lookup_finds_what_was_accepted(
    sender_settings, numbers, sandbox, open_gateway
) -> None:
    await sandbox.set_faults(mps=1000, accepted_error_rate=1.0)
    gateway = await open_gateway(sender_settings())
    command = text_command("c", "k", numbers.recipient(3), numbers.sender)
    since = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(SendError) as raised:
        await gateway.create(command)
    error = raised.value
    assert (error.code, error.http_status) == (20500, 500)
    assert error.retryable and error.outcome_unknown
    sid = await gateway.find_sent(command, since)
    assert sid is not None and sid.startswith("SM")
    other = text_command("c", "k2", numbers.recipient(4), numbers.sender)
    assert await gateway.find_sent(other, since) is None


async def test_a_lookup_waits_behind_an_open_breaker_like_a_send(
    sender_settings, numbers, sandbox, open_gateway
) -> None:
    gateway = await open_gateway(sender_settings(breaker_fail_max=2, breaker_reset_s=30))
    await sandbox.set_faults(outage_s=30)
    command = text_command("c", "k", numbers.recipient(5), numbers.sender)
    for _ in range(2):
        with pytest.raises(SendError):
            await gateway.create(command)
    assert gateway.breaker_state is CircuitBreakerState.OPEN
    with pytest.raises(BreakerOpen):
        await gateway.find_sent(command, datetime.now(UTC) - timedelta(minutes=1))


async def test_a_timeout_is_retryable_and_its_outcome_unknown(
    sender_settings, numbers, sandbox, open_gateway
) -> None:
    # The sandbox accepts at once and answers late: the "sent but never told" case.
    await sandbox.set_faults(latency_ms=1_500)
    gateway = await open_gateway(sender_settings(twilio_timeout_s=0.3))
    command = text_command("c", "slow", numbers.recipient(3), numbers.sender)
    with pytest.raises(SendError) as raised:
        await gateway.create(command)
    assert raised.value.retryable and raised.value.outcome_unknown
    assert raised.value.code is None
    found = await gateway.find_sent(command, datetime.now(UTC) - timedelta(minutes=1))
    assert found is not None and found.startswith("SM")
