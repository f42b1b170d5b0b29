"""The send-rate limiter shared by every sender replica, in Redis.

Twilio (and the sandbox) count sends in sliding windows: at most N in ANY
1-second window. A token bucket cannot promise that (a full bucket lets
burst + rate sends into one second), so this is a sliding-window log: one
sorted-set entry per send, scored by the Redis server's clock, checked against
every window at once in a single Lua script, so replicas never race and never
disagree about the time.

Grants are also spaced evenly (one window divided by its limit, for the
tightest window): 50 sends at 10/s take five seconds, not a burst of ten and
a wait, and Twilio's queue never holds a burst.

Each window is widened by a small safety margin: the limiter grants a send a
few milliseconds before Twilio accepts it, and that delay varies from send to
send, so two sends granted exactly one window apart could arrive less than one
window apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis import Keys
from shared.senders import SenderDirectory, bare_number

# KEYS[1]: the sender number's log. ARGV: member, spacing_ms, then (window_ms, limit) pairs.
# Returns {1, 0} when the send is granted, or {0, wait_ms} until one may be.
_ACQUIRE = """
local key = KEYS[1]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local spacing_ms = tonumber(ARGV[2])
local longest = 0
for i = 3, #ARGV, 2 do
  longest = math.max(longest, tonumber(ARGV[i]))
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - longest)
local wait_ms = 0
local last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
if last[2] then
  wait_ms = math.max(0, tonumber(last[2]) + spacing_ms - now_ms)
end
for i = 3, #ARGV, 2 do
  local window_ms = tonumber(ARGV[i])
  local limit = tonumber(ARGV[i + 1])
  local since = '(' .. (now_ms - window_ms)
  local count = redis.call('ZCOUNT', key, since, '+inf')
  if count >= limit then
    -- The window frees a place when its (count - limit + 1)-th oldest entry leaves it.
    local oldest = redis.call(
      'ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    wait_ms = math.max(wait_ms, tonumber(oldest[2]) + window_ms - now_ms)
  end
end
if wait_ms > 0 then
  return {0, tostring(wait_ms)}
end
redis.call('ZADD', key, now_ms, ARGV[1])
redis.call('PEXPIRE', key, math.ceil(longest) + 1000)
return {1, '0'}
"""


@dataclass(frozen=True, slots=True)
class Window:
    length_ms: int
    limit: int


@dataclass(frozen=True, slots=True)
class _Bucket:
    spacing_ms: float
    window_args: tuple[int, ...]

    @classmethod
    def of(cls, windows: tuple[Window, ...]) -> _Bucket:
        return cls(
            spacing_ms=min(w.length_ms / w.limit for w in windows),
            window_args=tuple(v for w in windows for v in (w.length_ms, w.limit)),
        )


def default_windows(
    per_second: int, per_minute: int, per_hour: int, margin_ms: int = 50
) -> tuple[Window, ...]:
    return (
        Window(1_000 + margin_ms, per_second),
        Window(60_000 + margin_ms, per_minute),
        Window(3_600_000 + margin_ms, per_hour),
    )


class SlidingWindowLimiter:
    """Grants sends per sender number so that no window ever holds more than its limit.

    Every number has its own log and its own windows: ``windows`` by default, or those
    of ``windows_by_number`` (keyed by the bare E.164 number) for configured senders.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        windows: tuple[Window, ...],
        windows_by_number: Mapping[str, tuple[Window, ...]] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._script = redis.register_script(_ACQUIRE)
        self._default = _Bucket.of(windows)
        self._buckets = {
            number: _Bucket.of(number_windows)
            for number, number_windows in (windows_by_number or {}).items()
        }
        self.spacing_ms = self._default.spacing_ms

    def spacing_ms_of(self, sender_number: str) -> float:
        return self._bucket(sender_number).spacing_ms

    def _bucket(self, sender_number: str) -> _Bucket:
        return self._buckets.get(bare_number(sender_number), self._default)

    async def try_acquire(self, sender_number: str) -> float:
        """Take a place now if one is free: 0.0, else the milliseconds to wait first."""
        bucket = self._bucket(sender_number)
        granted, wait_ms = await self._script(
            keys=[self._keys("limiter", sender_number)],
            args=[uuid.uuid4().hex, bucket.spacing_ms, *bucket.window_args],
        )
        return 0.0 if int(granted) else max(float(wait_ms), 1.0)

    async def acquire(self, sender_number: str, max_wait_s: float | None = None) -> float:
        """Wait until a send is granted; returns the milliseconds waited.

        Raises TimeoutError when ``max_wait_s`` passes first.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            wait_ms = await self.try_acquire(sender_number)
            waited_s = loop.time() - started
            if wait_ms == 0.0:
                return waited_s * 1000
            if max_wait_s is not None and waited_s + wait_ms / 1000 > max_wait_s:
                raise TimeoutError(f"no send slot for {sender_number} within {max_wait_s} s")
            await asyncio.sleep(wait_ms / 1000)


def windows_by_number(
    directory: SenderDirectory, numbers: list[str], margin_ms: int
) -> dict[str, tuple[Window, ...]]:
    """The windows of every configured sender number, from its own limits."""
    result: dict[str, tuple[Window, ...]] = {}
    for number in numbers:
        limits = directory.limits(number)
        result[bare_number(number)] = default_windows(
            limits.per_second, limits.per_minute, limits.per_hour, margin_ms
        )
    return result
