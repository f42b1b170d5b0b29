"""One place for the backoff between inline send attempts."""

from __future__ import annotations

import random


def retry_delay_ms(
    attempt: int,
    *,
    base_delay_ms: int,
    max_delay_ms: int,
    retry_after_s: float | None = None,
    draw: float | None = None,
) -> float:
    """The wait after failed ``attempt`` (1-based): exponential with full jitter.

    Twilio's Retry-After, when it gave one, is a floor: asking earlier only buys
    another 429. ``draw`` (uniform in [0, 1)) makes the jitter testable.
    """
    ceiling_ms = min(max_delay_ms, base_delay_ms * 2 ** (attempt - 1))
    # Half fixed, half random: never a zero wait, still spread across replicas.
    jitter = random.random() if draw is None else draw
    delay_ms = ceiling_ms / 2 + jitter * ceiling_ms / 2
    if retry_after_s is not None:
        delay_ms = max(delay_ms, retry_after_s * 1000)
    return delay_ms
