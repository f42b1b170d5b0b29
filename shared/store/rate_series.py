"""A campaign's messages sent and failed per second, for the campaign page's live chart.

A view, folded from the same events as the progress and the funnel, and by the same
scripts in the same round trip: the progress fold (shared/store/progress.py) adds the
results it newly counted, the funnel fold (shared/store/funnel.py) the messages it
newly moved to a failure. Each script includes :data:`RATE_SERIES_LUA` and calls its
``rate_series_add``; this module owns the keys, their layout, reading and expiry.
Counting only what those folds newly counted is what makes a replay after a crash
count nothing twice.

Each result or receipt is counted in the bucket of its own time (the event's
``occurred_at``), never the time it was folded, so a batch folded again, or folded
late, lands where it did the first time.

Layout (under the prefix), two hashes of one shape:
- ``rate:{id}:sends``     ``s:{t}`` messages Twilio accepted, ``f:{t}`` messages
                          failed at send, in the bucket starting at epoch second t
- ``rate:{id}:receipts``  ``a:{t}`` messages that failed after Twilio accepted them
                          (a delivery receipt of failed or undelivered)
- both also hold ``w`` (the bucket width in s), ``lo`` and ``hi`` (the earliest and
  latest second counted)

Bounded: buckets start on multiples of their width since the epoch, and the width
(1 s at first) doubles whenever the seconds counted would span more than
:data:`MAX_BUCKETS` buckets; the buckets are then merged in pairs, in the script, so
nothing is dropped and a series always adds up to its campaign's counts. An hour of
sending keeps per-second detail; a two-hour run is shown in 2 s buckets, and so on.
The merge touches every field of the key once, on each doubling only (log2 of the
run's length in hours times in all).

Expiry: the sends series with the progress hash, PROGRESS_TTL_S after the run ends
(ProgressStore.expire_ended); the receipts series with the funnel, its TTL renewed
by each receipt, since receipts still come after the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis import Keys

MAX_BUCKETS = 3_600
SENT, FAILED, FAILED_AFTER_ACCEPTANCE = "s", "f", "a"

# A Lua function for the folds' scripts to include. counts: {[epoch second] =
# {[letter] = n}}, the letters above. Adds them to the series at `key`, widening its
# buckets first when the seconds it spans would need more than MAX_BUCKETS of them.
RATE_SERIES_LUA = f"""
local function rate_series_add(key, counts)
  local lo, hi
  for second in pairs(counts) do
    if lo == nil or second < lo then lo = second end
    if hi == nil or second > hi then hi = second end
  end
  if lo == nil then
    return
  end
  local meta = redis.call('HMGET', key, 'w', 'lo', 'hi')
  local width = tonumber(meta[1]) or 1
  local old_lo, old_hi = tonumber(meta[2]), tonumber(meta[3])
  if old_lo ~= nil and old_lo < lo then lo = old_lo end
  if old_hi ~= nil and old_hi > hi then hi = old_hi end
  local wider = width
  while math.floor(hi / wider) - math.floor(lo / wider) >= {MAX_BUCKETS} do
    wider = wider * 2
  end
  if wider ~= width then
    local fields = redis.call('HGETALL', key)
    local merged = {{}}
    for i = 1, #fields, 2 do
      local letter, start = string.match(fields[i], '^(%a):(%d+)$')
      if letter ~= nil then
        redis.call('HDEL', key, fields[i])
        local name = letter .. ':' .. math.floor(tonumber(start) / wider) * wider
        merged[name] = (merged[name] or 0) + tonumber(fields[i + 1])
      end
    end
    for name, n in pairs(merged) do
      redis.call('HINCRBY', key, name, n)
    end
  end
  redis.call('HSET', key, 'w', wider, 'lo', lo, 'hi', hi)
  for second, by_letter in pairs(counts) do
    local start = math.floor(second / wider) * wider
    for letter, n in pairs(by_letter) do
      redis.call('HINCRBY', key, letter .. ':' .. start, n)
    end
  end
end
"""


def sends_key(keys: Keys, campaign_id: str) -> str:
    return keys("rate", campaign_id, "sends")


def receipts_key(keys: Keys, campaign_id: str) -> str:
    return keys("rate", campaign_id, "receipts")


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One bucket: messages of each kind whose result or receipt fell in it."""

    at_s: int
    sent: int = 0
    failed: int = 0
    failed_after_acceptance: int = 0


@dataclass(frozen=True, slots=True)
class RateSeries:
    bucket_seconds: int
    points: list[RatePoint]


@dataclass(slots=True)
class _Counts:
    sent: int = 0
    failed: int = 0
    failed_after_acceptance: int = 0

    def add(self, letter: str, n: int) -> None:
        if letter == SENT:
            self.sent += n
        elif letter == FAILED:
            self.failed += n
        elif letter == FAILED_AFTER_ACCEPTANCE:
            self.failed_after_acceptance += n


class RateSeriesStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def read(self, campaign_id: str) -> RateSeries:
        """Both series on one grid: the wider of their bucket widths (widened again
        if together they span more than MAX_BUCKETS), every bucket from the first
        counted to the last, empty ones included, oldest first."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(sends_key(self._keys, campaign_id))
            pipe.hgetall(receipts_key(self._keys, campaign_id))
            replies = await pipe.execute()
        return merge_series(replies)

    def queue_expire(self, pipe: Redis, campaign_id: str, ttl_s: int) -> None:
        """Queue the expiry of the sends series on a pipeline that expires the rest of
        the run's progress (the receipts series keeps the funnel's TTL)."""
        pipe.expire(sends_key(self._keys, campaign_id), ttl_s)


def merge_series(raw_series: list[dict[bytes, bytes]]) -> RateSeries:
    """The series :meth:`RateSeriesStore.read` returns, from the hashes' raw fields."""
    width = 1
    buckets: list[tuple[str, int, int]] = []
    for raw in raw_series:
        for name, value in raw.items():
            letter, _, start = name.decode().partition(":")
            if start:
                buckets.append((letter, int(start), int(value)))
            elif letter == "w":
                width = max(width, int(value))
    if not buckets:
        return RateSeries(width, [])
    first, last = min(b[1] for b in buckets), max(b[1] for b in buckets)
    # Widths are powers of two and buckets start on multiples of theirs, so a wider
    # bucket holds whole narrower ones.
    while last // width - first // width >= MAX_BUCKETS:
        width *= 2
    counts: dict[int, _Counts] = {}
    for letter, start, n in buckets:
        counts.setdefault(start // width * width, _Counts()).add(letter, n)
    first_at, last_at = first // width * width, last // width * width
    points = []
    for at_s in range(first_at, last_at + 1, width):
        bucket = counts.get(at_s, _Counts())
        points.append(RatePoint(at_s, bucket.sent, bucket.failed, bucket.failed_after_acceptance))
    return RateSeries(width, points)
