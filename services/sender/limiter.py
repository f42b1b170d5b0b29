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
window apart. The grant and the send's ledger claim are one script, so nothing
but the request itself lies between them; `make bench` measures the spread of
that delay against the margin. A send that still goes out later than its grant's
score (a busy event loop, a descheduled process) has its log entry moved to when it
went (`correct`), so the window one send later counts it where it really was, and
the margin covers only what happens after the request leaves. The spacing goes on from
the grants' schedule (a key of its own), so a correction does not delay every send after
it: it moves only the grant that waits for it to leave a window.

With failover (REDIS_MIN_REPLICAS_ACKED), the script and a WAIT for the replicas run in
one pipeline, on one connection: a grant is handed out, and its claim used, only once a
replica holds them, so a promoted replica neither forgets a claim (a second send) nor a
grant (a rate above the limit). One WAIT covers the whole batch the script granted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from services.sender.ledger import CLAIM_FUNCTION, ClaimRequest
from shared.redis import Keys, ReplicaAcks
from shared.senders import SenderDirectory, bare_number

# A grant may be scored this far ahead of now; the gate asks again this much before the
# wait it was told ends, and the send waits until its score. Grants then land on their
# spacing exactly instead of one wake-up late each time, which at 10/s lost about a
# quarter of a percent of the rate (make bench), more than the precision allows.
EARLY_GRANT_MS = 5

# Corrections are made where a sender number's limit is at most this many sends a
# second (every Twilio sender's is). Above it (the bench's unlimited runs) the windows
# never fill, and a correction for nearly every send would be Redis work for nothing.
CORRECTED_UP_TO_PER_S = 1_000

# KEYS[1]: the sender number's log; KEYS[1 + i]: the ledger hash of claim i, if any;
# the last KEY: the score of the number's latest grant (the spacing's schedule).
# ARGV: member prefix, spacing_ms, number of windows n, n (window_ms, limit) pairs, then
# replica, ttl_s, grants wanted (used when no claims are given), then (field, expected)
# per claim ('' = absent).
# Grants sends in order while one may go now: each is scored at the latest of now, the
# previous grant plus the spacing, and the moment each full window frees a place (at most
# EARLY_GRANT_MS ahead), so it fits every window ending at its score. With claims, each
# grant first compare-and-sets its ledger entry: a lost claim spends no grant. Returns
# {wait_ms, Redis's now in ms, then (ms the grant is scored ahead of now, claim) or ('-',
# current) for each entry dealt with, in order}; entries past the last one dealt with wait
# for wait_ms.
# The i-th entry dealt with is logged as 'prefix:i'.
_GRANT = (
    CLAIM_FUNCTION
    + f"local EARLY_GRANT_MS = {EARLY_GRANT_MS}\n"
    + """
local key = KEYS[1]
local schedule = KEYS[#KEYS]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local spacing_ms = tonumber(ARGV[2])
local windows = tonumber(ARGV[3])
local longest = 0
for w = 0, windows - 1 do
  longest = math.max(longest, tonumber(ARGV[4 + 2 * w]))
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - longest)
local after = 4 + 2 * windows
local replica, ttl_s = ARGV[after], ARGV[after + 1]
local claims = #KEYS - 2
local wanted = claims
if claims == 0 then
  wanted = tonumber(ARGV[after + 2])
end

-- The score of one more grant, and how long until it may go (0: now).
local function next_grant()
  local score = now_ms
  local last = redis.call('GET', schedule)
  if not last then
    -- A log kept before the schedule was: its latest entry.
    last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')[2]
  end
  if last then
    score = math.max(score, tonumber(last) + spacing_ms)
  end
  -- A later score only leaves entries out of a window, so one pass finds the earliest
  -- score every window allows.
  local free_at = score
  for w = 0, windows - 1 do
    local window_ms = tonumber(ARGV[4 + 2 * w])
    local limit = tonumber(ARGV[5 + 2 * w])
    local since = '(' .. (score - window_ms)
    local count = redis.call('ZCOUNT', key, since, '+inf')
    if count >= limit then
      -- The window frees a place when its limit-th newest entry leaves it.
      local oldest = redis.call(
        'ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
      free_at = math.max(free_at, tonumber(oldest[2]) + window_ms)
    end
  end
  local wait_ms = 0
  if free_at - now_ms > EARLY_GRANT_MS then
    wait_ms = free_at - now_ms
  end
  return free_at, wait_ms
end

local answer = {'0', tostring(now_ms)}
local granted = 0
for i = 1, wanted do
  local ledger, field, current
  if claims > 0 then
    ledger, field = KEYS[1 + i], ARGV[after + 1 + 2 * i]
    current = redis.call('HGET', ledger, field) or ''
  end
  if claims > 0 and current ~= ARGV[after + 2 + 2 * i] then
    answer[#answer + 1] = '-'
    answer[#answer + 1] = current
  else
    local score, wait_ms = next_grant()
    if wait_ms > 0 then
      answer[1] = tostring(wait_ms)
      break
    end
    redis.call('ZADD', key, score, ARGV[1] .. ':' .. i)
    redis.call('SET', schedule, tostring(score))
    granted = granted + 1
    answer[#answer + 1] = tostring(math.max(0, score - now_ms))
    if claims > 0 then
      answer[#answer + 1] = claim_entry(ledger, field, replica, ttl_s, now_ms)
    else
      answer[#answer + 1] = ''
    end
  end
end
if granted > 0 then
  redis.call('PEXPIRE', key, math.ceil(longest) + 1000)
  redis.call('PEXPIRE', schedule, math.ceil(longest) + 1000)
end
return answer
"""
)


# Moves a grant's entry later by what its send was late: ARGV holds (member, late_ms)
# pairs. XX: an entry already trimmed from the log stays gone.
_CORRECT = """
local moved = {}
for i = 1, #ARGV, 2 do
  moved[#moved + 1] = redis.call('ZADD', KEYS[1], 'XX', 'INCR', ARGV[i + 1], ARGV[i]) and 1 or 0
end
return moved
"""


@dataclass(frozen=True, slots=True)
class Grant:
    """One entry's answer: a send granted (with our new claim, if one was asked for), or
    a claim lost to someone else (``current`` is what the entry holds now)."""

    granted: bool
    claim_raw: str | None = None
    current: str | None = None
    # The grant's entry in the log, for a correction (`SlidingWindowLimiter.correct`),
    # and the event loop's time at its score (`RedisClock`): the send waits until then.
    member: str | None = None
    due: float = 0.0


@dataclass(frozen=True, slots=True)
class Grants:
    """The entries dealt with, in order, and how long the others wait (0: none left)."""

    dealt: list[Grant]
    wait_ms: float


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
    per_second: int, per_minute: int, per_hour: int, margin_ms: int = 15
) -> tuple[Window, ...]:
    return (
        Window(1_000 + margin_ms, per_second),
        Window(60_000 + margin_ms, per_minute),
        Window(3_600_000 + margin_ms, per_hour),
    )


class RedisClock:
    """The event loop's time of a moment on the Redis server's clock.

    Each grant call gives a sample: Redis's time during the script, against the loop's
    time just before the call was sent. The sample with the shortest round trip is the
    closest (its error is at most that round trip, and errs towards a send looking
    late, never early); it is kept for a while and then replaced, so clock drift never
    builds up. The two hosts' clocks may differ: only their offset is used.
    """

    KEPT_S = 30.0

    def __init__(self) -> None:
        self._offset_ms = 0.0
        self._round_trip_s = float("inf")
        self._taken_at = float("-inf")

    def sample(self, redis_now_ms: float, sent_at: float, answered_at: float) -> None:
        round_trip_s = answered_at - sent_at
        if round_trip_s <= self._round_trip_s or answered_at - self._taken_at > self.KEPT_S:
            self._offset_ms = redis_now_ms - sent_at * 1000
            self._round_trip_s = round_trip_s
            self._taken_at = answered_at

    def loop_time(self, redis_ms: float) -> float:
        return (redis_ms - self._offset_ms) / 1000


def grant_log_key(keys: Keys, sender_number: str) -> str:
    """A sender number's log of grants: a sorted set, one entry a grant, scored by the
    Redis server's time in ms. ``"*"`` for the number matches every log (observers:
    make bench, the fault suite)."""
    return keys("limiter", sender_number)


def grant_schedule_key(keys: Keys, sender_number: str) -> str:
    """The score of a sender number's latest grant, where the next one's spacing starts."""
    return keys("limiter_schedule", sender_number)


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
        acks: ReplicaAcks | None = None,
    ) -> None:
        self._redis = redis
        self._acks = acks or ReplicaAcks()
        self._keys = keys
        self._script = redis.register_script(_GRANT)
        self._correct_script = redis.register_script(_CORRECT)
        self._clock = RedisClock()
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

    def corrects(self, sender_number: str) -> bool:
        """Whether late sends of this number are worth a correction (see
        CORRECTED_UP_TO_PER_S)."""
        return self._bucket(sender_number).spacing_ms >= 1_000 / CORRECTED_UP_TO_PER_S

    async def correct(self, sender_number: str, late_ms: Sequence[tuple[str, float]]) -> list[bool]:
        """Move each (log entry, ms late) grant's entry later by that much, in one round
        trip; whether each entry was still in the log. Not waited on by replicas under
        failover: a correction lost with a primary costs only the margin it would have
        spared."""
        if not late_ms:
            return []
        args = [value for member, late in late_ms for value in (member, late)]
        moved = await self._correct_script(
            keys=[grant_log_key(self._keys, sender_number)], args=args
        )
        return [bool(entry) for entry in moved]

    async def try_acquire(self, sender_number: str) -> float:
        """Take a place now if one is free: 0.0, else the milliseconds to wait first."""
        grants = await self.grant(sender_number, 1)
        return 0.0 if grants.dealt else max(grants.wait_ms, 1.0)

    async def grant(self, sender_number: str, wanted: int | Sequence[ClaimRequest]) -> Grants:
        """Grant up to ``wanted`` sends now, in one round trip; with claim requests, take
        each granted send's ledger claim in the same script.

        The sends granted are the first ones dealt with; the rest wait ``wait_ms``.
        """
        bucket = self._bucket(sender_number)
        claims = [] if isinstance(wanted, int) else list(wanted)
        count = wanted if isinstance(wanted, int) else len(claims)
        if count <= 0:
            return Grants([], 0.0)
        windows = len(bucket.window_args) // 2
        replica, ttl_s = (claims[0].replica, claims[0].ttl_s) if claims else ("", 0)
        member_prefix = uuid.uuid4().hex
        args: list[str | int | float] = [
            member_prefix,
            bucket.spacing_ms,
            windows,
            *bucket.window_args,
            replica,
            ttl_s,
            count,
        ]
        for claim in claims:
            args += [claim.field, claim.expected_raw or ""]
        keys = [
            grant_log_key(self._keys, sender_number),
            *(claim.key for claim in claims),
            grant_schedule_key(self._keys, sender_number),
        ]
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        if self._acks.replicas:
            answer = await self._run_acknowledged(keys, args)
        else:
            answer = await self._script(keys=keys, args=args)
        redis_now_ms = float(_text(answer[1]) or 0)
        self._clock.sample(redis_now_ms, sent_at, loop.time())
        dealt = []
        for index in range(2, len(answer), 2):
            status, value = _text(answer[index]), _text(answer[index + 1])
            if status == "-":
                dealt.append(Grant(False, current=value))
            else:
                # The script names the i-th entry it dealt with ``prefix:i``.
                member = f"{member_prefix}:{len(dealt) + 1}"
                # The status is how far ahead of the script's now the grant is scored.
                due = self._clock.loop_time(redis_now_ms + float(status or 0))
                dealt.append(Grant(True, claim_raw=value or None, member=member, due=due))
        return Grants(dealt, float(_text(answer[0]) or 0))

    async def _run_acknowledged(self, keys: list[str], args: list[str | int | float]) -> list:
        """The script, then WAIT on the same connection; raises ReplicasBehind (an outage:
        nothing is sent, the claims go stale and are reconciled) when too few replicas
        acknowledged in time."""
        for _ in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
                self._acks.queue_wait(pipe)
                answer, acknowledged = await pipe.execute(raise_on_error=False)
            if isinstance(answer, NoScriptError):
                # A promoted replica has no cached scripts; the script did not run.
                await self._redis.script_load(_GRANT)
                continue
            for result in (answer, acknowledged):
                if isinstance(result, Exception):
                    raise result
            self._acks.check(int(acknowledged))
            return answer
        raise NoScriptError("the grant script vanished twice in a row")

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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


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
