"""Recent figures for alerts: outcomes and Twilio request times in 10-second buckets.

Layout (under the prefix): ``stats:outcomes:{bucket}`` hash sent / failed, and
``stats:twilio:{bucket}`` hash count / total_ms, where bucket is the time in ms
divided by BUCKET_MS. Buckets expire on their own after KEEP_S.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis import Keys

BUCKET_MS = 10_000
# Longer than any alert window worth having.
KEEP_S = 3_600


@dataclass(frozen=True, slots=True)
class Window:
    sent: int = 0
    failed: int = 0
    twilio_calls: int = 0
    twilio_total_ms: float = 0.0

    @property
    def failure_rate(self) -> float | None:
        done = self.sent + self.failed
        return self.failed / done if done else None

    @property
    def twilio_average_ms(self) -> float | None:
        return self.twilio_total_ms / self.twilio_calls if self.twilio_calls else None


class OutcomeTally:
    """Sent and failed counts by bucket, gathered in memory between writes."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[int, str]] = Counter()

    def add(self, at_ms: int, outcome: str, count: int) -> None:
        self.counts[(at_ms // BUCKET_MS, outcome)] += count


class StatsStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, kind: str, bucket: int) -> str:
        return self._keys("stats", kind, bucket)

    async def count_outcomes(self, tally: OutcomeTally) -> None:
        """Add a tally's counts to their buckets, in one round trip."""
        if not tally.counts:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for (bucket, outcome), count in tally.counts.items():
                pipe.hincrby(self._key("outcomes", bucket), outcome, count)
            for bucket in {bucket for bucket, _ in tally.counts}:
                pipe.expire(self._key("outcomes", bucket), KEEP_S)
            await pipe.execute()

    async def count_twilio_calls(
        self, calls: int, total_ms: float, at_ms: int | None = None
    ) -> None:
        bucket = (at_ms if at_ms is not None else int(time.time() * 1000)) // BUCKET_MS
        key = self._key("twilio", bucket)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "count", calls)
            pipe.hincrbyfloat(key, "total_ms", total_ms)
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def window(self, seconds: float, now_ms: int | None = None) -> Window:
        """Totals of the buckets that overlap the last ``seconds``."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        buckets = range((now_ms - int(seconds * 1000)) // BUCKET_MS, now_ms // BUCKET_MS + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.hgetall(self._key("outcomes", bucket))
                pipe.hgetall(self._key("twilio", bucket))
            replies = await pipe.execute()
        sent = failed = calls = 0
        total_ms = 0.0
        for outcomes, twilio in zip(replies[::2], replies[1::2], strict=True):
            sent += int(outcomes.get(b"sent", 0))
            failed += int(outcomes.get(b"failed", 0))
            calls += int(twilio.get(b"count", 0))
            total_ms += float(twilio.get(b"total_ms", 0))
        return Window(sent, failed, calls, total_ms)
