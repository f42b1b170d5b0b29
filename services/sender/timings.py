"""Twilio request times for the alerts, summed in memory and written once a second.

One Redis write per second per replica instead of one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from shared.store.stats import StatsStore

log = logging.getLogger(__name__)


class TwilioTimings:
    def __init__(self, stats: StatsStore, interval_s: float = 1.0) -> None:
        self._stats = stats
        self._interval_s = interval_s
        self._calls = 0
        self._total_ms = 0.0
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, duration_ms: float) -> None:
        self._calls += 1
        self._total_ms += duration_ms

    async def flush(self) -> None:
        calls, total_ms = self._calls, self._total_ms
        if not calls:
            return
        self._calls, self._total_ms = 0, 0.0
        try:
            await self._stats.count_twilio_calls(calls, total_ms)
        except (RedisError, OSError) as error:
            # Kept for the next flush: an outage delays the figures, it does not lose them.
            self._calls += calls
            self._total_ms += total_ms
            log.warning("twilio timings not written", extra={"reason": str(error)})

    async def _run(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval_s)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="twilio-timings")

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            await self._task
