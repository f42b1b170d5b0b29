"""The sender's breaker waits on aiobreaker's own reset, and lets one trial through."""

from __future__ import annotations

import asyncio

import pytest
from aiobreaker.state import CircuitBreakerState

from services.sender.breaker import BreakerOpen, TwilioBreaker


class Down(Exception):
    pass


async def _fail() -> None:
    raise Down("twilio away")


async def _ok() -> str:
    return "SM1"


def _breaker(reset_s: float = 0.3, trial_timeout_s: float = 5) -> TwilioBreaker:
    return TwilioBreaker(
        fail_max=2,
        reset_s=reset_s,
        trial_timeout_s=trial_timeout_s,
        exclude=[],
        on_change=lambda: None,
    )


async def _open(breaker: TwilioBreaker) -> None:
    for _ in range(2):
        with pytest.raises(Down):
            await breaker.call(_fail)  # the request's own error, also the one that opens it
    assert breaker.state is CircuitBreakerState.OPEN


async def test_an_open_breaker_refuses_without_calling_then_waits_for_its_reset() -> None:
    breaker = _breaker(reset_s=0.3)
    await _open(breaker)
    with pytest.raises(BreakerOpen):
        await breaker.call(_ok)
    waiting = asyncio.create_task(breaker.wait_until_closed())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await asyncio.wait_for(waiting, timeout=2)  # the reset passed: this caller's trial
    assert await breaker.call(_ok) == "SM1"
    assert breaker.state is CircuitBreakerState.CLOSED


async def test_others_wait_for_the_trials_verdict_and_go_when_it_closes() -> None:
    breaker = _breaker(reset_s=0.05)
    await _open(breaker)
    await asyncio.sleep(0.1)
    await asyncio.wait_for(breaker.wait_until_closed(), timeout=1)  # the trial's turn
    other = asyncio.create_task(breaker.wait_until_closed())
    await asyncio.sleep(0.1)
    assert not other.done()
    assert await breaker.call(_ok) == "SM1"
    await asyncio.wait_for(other, timeout=1)


async def test_a_failed_trial_opens_it_again_for_a_full_reset() -> None:
    breaker = _breaker(reset_s=0.3)
    await _open(breaker)
    await asyncio.wait_for(breaker.wait_until_closed(), timeout=2)
    other = asyncio.create_task(breaker.wait_until_closed())
    with pytest.raises(Down):
        await breaker.call(_fail)
    assert breaker.state is CircuitBreakerState.OPEN
    await asyncio.sleep(0.1)
    assert not other.done()  # woken by the verdict, now waiting out the new reset
    await asyncio.wait_for(other, timeout=2)


async def test_a_trial_never_made_expires_and_another_caller_gets_it() -> None:
    breaker = _breaker(reset_s=0.05, trial_timeout_s=0.2)
    await _open(breaker)
    await asyncio.sleep(0.1)
    await asyncio.wait_for(breaker.wait_until_closed(), timeout=1)  # and never calls
    await asyncio.wait_for(breaker.wait_until_closed(), timeout=1)
