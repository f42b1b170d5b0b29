"""The circuit breaker in front of Twilio: aiobreaker's breaker, and who waits on it.

aiobreaker counts consecutive transient failures; at ``fail_max`` it opens and
refuses calls for ``reset_s``, after which the next call is its trial: success closes
it, failure opens it again. Senders do not fail against an open breaker, they wait:
``wait_until_closed`` sleeps until aiobreaker's own reset time, and while one caller
makes the trial the others wait for its verdict instead of all failing together.
They wake on the breaker's changes of state; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerListener
from aiobreaker.state import CircuitBreakerState
from aiobreaker.storage.memory import CircuitMemoryStorage

from shared.metrics import BREAKER_STATE_VALUES, CIRCUIT_BREAKER_STATE

log = logging.getLogger(__name__)

T = TypeVar("T")


class BreakerOpen(Exception):
    """The breaker refused the call before any request was made."""


class _StateListener(CircuitBreakerListener):
    def __init__(self, on_state: Callable[[CircuitBreakerState], None]) -> None:
        self._on_state = on_state

    def state_change(self, breaker: CircuitBreaker, old: Any, new: Any) -> None:
        self._on_state(new.state)


class TwilioBreaker:
    def __init__(
        self,
        *,
        fail_max: int,
        reset_s: float,
        trial_timeout_s: float,
        exclude: list[Callable[[Exception], bool]],
        on_change: Callable[[], None],
    ) -> None:
        # Ours so that its open time can be read: aiobreaker's timer, not a copy of it.
        self._storage = CircuitMemoryStorage(CircuitBreakerState.CLOSED)
        self._breaker = CircuitBreaker(
            fail_max=fail_max,
            timeout_duration=timedelta(seconds=reset_s),
            exclude=exclude,
            listeners=[_StateListener(self._on_state)],
            state_storage=self._storage,
            name="twilio",
        )
        self._trial_timeout_s = trial_timeout_s
        self._on_change = on_change
        # Set, then replaced, at each change of state: whoever waits wakes once.
        self._changed = asyncio.Event()
        # When the caller allowed to make the trial call got its turn.
        self._trial_started_at = -math.inf

    @property
    def state(self) -> CircuitBreakerState:
        return self._breaker.current_state

    async def call(self, request: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``request(*args)`` through the breaker. Raises BreakerOpen when the breaker
        refused it (no request was made), else whatever the request raised."""
        try:
            return await self._breaker.call_async(request, *args)
        except CircuitBreakerError as error:
            if error.__cause__ is None:
                raise BreakerOpen(str(error.message)) from None
            # This failure opened the breaker: it is still the request's own failure.
            raise error.__cause__ from None

    async def wait_until_closed(self) -> None:
        """Return when a call may go: the breaker is closed, or it is this caller's trial.

        After the reset time one trial call probes Twilio; the others wait for its verdict
        rather than all failing together.
        """
        loop = asyncio.get_running_loop()
        while True:
            state = self._breaker.current_state
            if state is CircuitBreakerState.CLOSED:
                return
            if state is CircuitBreakerState.OPEN and (reset_in_s := self._reset_in_s()) > 0:
                await self._next_change(reset_in_s)
                continue
            # A trial whose caller never called (stopped campaign, lost claim) expires.
            now = loop.time()
            trial_ends_at = self._trial_started_at + self._trial_timeout_s
            if now > trial_ends_at:
                self._trial_started_at = now
                return
            await self._next_change(trial_ends_at - now)

    def _reset_in_s(self) -> float:
        """How long the open breaker still refuses calls, by aiobreaker's reckoning."""
        opened_at = self._storage.opened_at
        if opened_at is None:
            return 0.0
        # aiobreaker stamps and compares naive UTC (datetime.utcnow()).
        now = datetime.now(UTC).replace(tzinfo=None)
        return (opened_at + self._breaker.timeout_duration - now).total_seconds()

    async def _next_change(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def _on_state(self, state: CircuitBreakerState) -> None:
        if state is not CircuitBreakerState.HALF_OPEN:
            # The trial (if any) has its verdict; half-open is the trial itself starting.
            self._trial_started_at = -math.inf
        if state is CircuitBreakerState.OPEN:
            log.warning(
                "circuit breaker opened: Twilio calls wait",
                extra={
                    "reset_s": self._breaker.timeout_duration.total_seconds(),
                    "fail_max": self._breaker.fail_max,
                },
            )
        elif state is CircuitBreakerState.CLOSED:
            log.info("circuit breaker closed: Twilio calls resume")
        CIRCUIT_BREAKER_STATE.set(BREAKER_STATE_VALUES.get(state.name.lower(), 0))
        self._changed.set()
        self._changed = asyncio.Event()
        self._on_change()
