"""The one backoff: how long a loop waits before it tries again.

In the spirit of dramatiq's ``compute_backoff``: exponential from a base, capped, with
jitter so that replicas that failed together do not all try again together. A
server's Retry-After, when it gave one, is a floor: asking earlier only buys another
refusal.

Every loop that waits and tries again takes its wait from here: the sender's inline
send attempts (services/sender/handler.py) and its consumer's failed records and
rounds (services/sender/consumer.py), the dispatcher's per-campaign steps
(services/dispatcher/isolation.py) and its pollers (services/dispatcher/polling.py),
the start-up wait for Kafka (shared/runtime.py, through tenacity) and the
replacement of a producer that lost its sequence (shared/renewing_producer.py). What a loop
retries, and how many times, stays the loop's own decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tenacity import RetryCallState

# none: exactly the capped exponential. half: between half of it and all of it, so
# never a zero wait yet still spread. full: anywhere from zero to all of it.
Jitter = Literal["none", "half", "full"]
# Past this the cap has long been reached; it keeps the arithmetic small when a loop
# has failed for hours.
MAX_EXPONENT = 32


def retry_delay_ms(
    attempt: int,
    *,
    base_delay_ms: float,
    max_delay_ms: float,
    jitter: Jitter = "half",
    retry_after_s: float | None = None,
    draw: float | None = None,
) -> float:
    """The wait after failed ``attempt`` (1-based): ``base_delay_ms`` doubled per
    attempt, capped at ``max_delay_ms``, with ``jitter``; at least ``retry_after_s``.

    ``draw`` (uniform in [0, 1)) makes the jitter testable.
    """
    exponent = min(max(attempt, 1) - 1, MAX_EXPONENT)
    ceiling_ms = min(max_delay_ms, base_delay_ms * 2**exponent)
    if jitter == "none":
        delay_ms = ceiling_ms
    else:
        share = random.random() if draw is None else draw
        if jitter == "half":
            delay_ms = ceiling_ms / 2 + share * ceiling_ms / 2
        else:
            delay_ms = share * ceiling_ms
    if retry_after_s is not None:
        delay_ms = max(delay_ms, retry_after_s * 1000)
    return delay_ms


@dataclass(frozen=True, slots=True)
class Backoff:
    """A loop's policy: ``retry_delay_ms`` with its base, cap and jitter settled."""

    base_delay_ms: float
    max_delay_ms: float
    jitter: Jitter = "half"

    @classmethod
    def fixed(cls, delay_ms: float) -> Backoff:
        """The same wait after every failure: no growth, no jitter."""
        return cls(delay_ms, delay_ms, "none")

    def delay_s(
        self, attempt: int, *, retry_after_s: float | None = None, draw: float | None = None
    ) -> float:
        """The wait after failed ``attempt`` (1-based), in seconds, for asyncio.sleep."""
        delay_ms = retry_delay_ms(
            attempt,
            base_delay_ms=self.base_delay_ms,
            max_delay_ms=self.max_delay_ms,
            jitter=self.jitter,
            retry_after_s=retry_after_s,
            draw=draw,
        )
        return delay_ms / 1000

    def tenacity_wait(self) -> Callable[[RetryCallState], float]:
        """This policy as tenacity's ``wait``, for loops that tenacity runs."""

        def wait(retry_state: RetryCallState) -> float:
            return self.delay_s(retry_state.attempt_number)

        return wait


async def sleep_unless(event: asyncio.Event, delay_s: float) -> None:
    """Wait ``delay_s``, or less when ``event`` is set meanwhile: a stopping loop does
    not sit out its backoff."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), delay_s)
