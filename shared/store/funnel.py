"""A campaign's delivery funnel in Redis, folded from Twilio's delivery receipts.

Receipts come late, twice, or out of order (each callback is its own HTTP request,
and two metrics replicas may fold receipts of one campaign at once). So the fold
keeps each message's furthest state and moves it only forward, in one Lua script
per poll batch of receipts, applied in order: the same receipt twice, or a `sent`
after a `read`, changes nothing. Redis runs the script whole or not at all, so a
batch read again after a crash moves nothing twice.

Layout (under the prefix):
- ``funnel:{id}``         hash: state -> messages whose furthest state it is
                          (queued, sent, delivered, read, failed, undelivered)
- ``funnel:{id}:states``  hash: message sid -> its furthest state
- ``funnel:{id}:errors``  hash: ``{failed|undelivered}:{code}`` -> messages

The three keys expire together, ``ttl_s`` after the newest receipt: a funnel lives
as long as receipts arrive, which is after its campaign ends (a `read` may come
hours later), and is never left half expired.

The fold also adds each message it newly moved to failed or undelivered to the
campaign's rate series of receipts (shared/store/rate_series.py), at the receipt's
time, in the same script; that key expires with the funnel's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from shared.redis import Keys
from shared.store.rate_series import FAILED_AFTER_ACCEPTANCE, RATE_SERIES_LUA, receipts_key

# Twilio's message statuses, by how far along they are. Accepted, scheduled and
# sending are all "queued" here: none says the message left Twilio.
STATE_OF_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "read": "read",
    "failed": "failed",
}
RANK = {"queued": 1, "sent": 2, "delivered": 3, "read": 4, "undelivered": 5, "failed": 5}
FAILURES = ("failed", "undelivered")
STATES = ("queued", "sent", "delivered", "read", "failed", "undelivered")
NO_CODE = "unknown"


def state_of(status: str) -> str | None:
    """The funnel state of a Twilio status; None for those outside the funnel
    (canceled, receiving, partially_delivered...)."""
    return STATE_OF_STATUS.get(status.strip().lower())


def advance(current: str | None, reported: str) -> str | None:
    """The message's new furthest state, or None when the receipt changes nothing.

    Only forward: a state at or behind the current one is a late or repeated receipt.
    Failed and undelivered are final. A failure reported after `delivered` or `read`
    is ignored too: the message reached the phone, which no later receipt undoes.
    The Lua script below applies the same rule; a test holds them to each other.
    """
    if reported not in RANK:
        return None
    now = RANK[current] if current is not None else 0
    if RANK[reported] <= now:
        return None
    if reported in FAILURES and now >= RANK["delivered"]:
        return None
    return reported


def _lua_table(mapping: dict[str, int]) -> str:
    return "{" + ", ".join(f"{name} = {rank}" for name, rank in mapping.items()) + "}"


# KEYS: four a campaign, in this order: counters, states, errors, rate series of
# receipts. ARGV: ttl in s, then each receipt in turn as: offset of its campaign's keys
# in KEYS (0, 4, 8...), message sid, reported state, error code (NO_CODE for none),
# time of the receipt in ms ('' for unknown: not in the rate series). Returns, for each
# receipt, 1 when its message moved, else 0. The keys of a campaign whose message moved
# get the ttl.
_FOLD_MANY = f"""{RATE_SERIES_LUA}
local RANK = {_lua_table(RANK)}
local DELIVERED = RANK['delivered']
local ttl = ARGV[1]
local moved = {{}}
local touched = {{}}
local failures = {{}}
for i = 2, #ARGV, 5 do
  local k = tonumber(ARGV[i])
  local counters, states, errors = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local sid, reported, code = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local at = tonumber(ARGV[i + 4])
  local new_rank = RANK[reported]
  local current = redis.call('HGET', states, sid)
  local now = 0
  if current then
    now = RANK[current] or 0
  end
  local failure = reported == 'failed' or reported == 'undelivered'
  if not new_rank or new_rank <= now or (failure and now >= DELIVERED) then
    moved[#moved + 1] = 0
  else
    redis.call('HSET', states, sid, reported)
    if current then
      redis.call('HINCRBY', counters, current, -1)
    end
    redis.call('HINCRBY', counters, reported, 1)
    if failure then
      redis.call('HINCRBY', errors, reported .. ':' .. code, 1)
      if at ~= nil then
        local second = math.floor(at / 1000)
        failures[k] = failures[k] or {{}}
        failures[k][second] = failures[k][second] or {{{FAILED_AFTER_ACCEPTANCE} = 0}}
        local in_second = failures[k][second]
        in_second.{FAILED_AFTER_ACCEPTANCE} = in_second.{FAILED_AFTER_ACCEPTANCE} + 1
      end
    end
    touched[k] = true
    moved[#moved + 1] = 1
  end
end
for k, counts in pairs(failures) do
  rate_series_add(KEYS[k + 4], counts)
end
for k in pairs(touched) do
  redis.call('EXPIRE', KEYS[k + 1], ttl)
  redis.call('EXPIRE', KEYS[k + 2], ttl)
  redis.call('EXPIRE', KEYS[k + 3], ttl)
  if failures[k] ~= nil then
    redis.call('EXPIRE', KEYS[k + 4], ttl)
  end
end
return moved
"""


@dataclass(frozen=True, slots=True)
class Receipt:
    campaign_id: str
    message_sid: str
    status: str
    error_code: int | None = None
    # When the receipt was reported, in ms: a failure is counted in the rate series at it.
    at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Funnel:
    """Messages by their furthest state; the cumulative view is what people read."""

    current: dict[str, int] = field(default_factory=dict)
    # failed / undelivered -> Twilio error code (or "unknown") -> messages
    errors: dict[str, dict[str, int]] = field(default_factory=dict)

    def _count(self, state: str) -> int:
        return self.current.get(state, 0)

    @property
    def read(self) -> int:
        return self._count("read")

    @property
    def delivered(self) -> int:
        """Delivered, read ones included: a read message was delivered first."""
        return self._count("delivered") + self.read

    @property
    def undelivered(self) -> int:
        return self._count("undelivered")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def sent(self) -> int:
        """Sent: every message that left Twilio, delivered or not."""
        return self._count("sent") + self.delivered + self.undelivered


class FunnelStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._fold_many = redis.register_script(_FOLD_MANY)

    def _key(self, campaign_id: str, *part: str) -> str:
        return self._keys("funnel", campaign_id, *part)

    async def fold(
        self, campaign_id: str, message_sid: str, status: str, error_code: int | None, ttl_s: int
    ) -> bool:
        """Move the message to the reported status if that is forward; True if it moved."""
        [moved] = await self.fold_many(
            [Receipt(campaign_id, message_sid, status, error_code)], ttl_s
        )
        return moved

    async def fold_many(self, receipts: Sequence[Receipt], ttl_s: int) -> list[bool]:
        """Fold receipts in order, in one round trip; for each, True if its message moved."""
        offsets: dict[str, int] = {}
        keys: list[str] = []
        args: list[str | int] = [ttl_s]
        # Statuses outside the funnel never reach Redis: they move nothing.
        in_funnel = []
        for receipt in receipts:
            reported = state_of(receipt.status)
            in_funnel.append(reported is not None)
            if reported is None:
                continue
            offset = offsets.get(receipt.campaign_id)
            if offset is None:
                offset = offsets[receipt.campaign_id] = len(keys)
                keys += (
                    self._key(receipt.campaign_id),
                    self._key(receipt.campaign_id, "states"),
                    self._key(receipt.campaign_id, "errors"),
                    receipts_key(self._keys, receipt.campaign_id),
                )
            code = NO_CODE if receipt.error_code is None else receipt.error_code
            at_ms = "" if receipt.at_ms is None else receipt.at_ms
            args += (offset, receipt.message_sid, reported, code, at_ms)
        if not keys:
            return [False] * len(receipts)
        replies = iter(await self._fold_many(keys=keys, args=args))
        return [bool(int(next(replies))) if sent else False for sent in in_funnel]

    async def read(self, campaign_id: str) -> Funnel:
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_read(pipe, campaign_id)
            raw, raw_errors = await pipe.execute()
        return self.parse_read(raw, raw_errors)

    async def read_many(self, campaign_ids: list[str]) -> list[Funnel]:
        """Funnels of several campaigns, with their error codes, in one round trip."""
        if not campaign_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                self.queue_read(pipe, campaign_id)
            replies = await pipe.execute()
        return [self.parse_read(*replies[i : i + 2]) for i in range(0, len(replies), 2)]

    def queue_read(self, pipe: Redis, campaign_id: str) -> None:
        """Queue :meth:`read`'s two commands on a pipeline that reads other keys too."""
        pipe.hgetall(self._key(campaign_id))
        pipe.hgetall(self._key(campaign_id, "errors"))

    @staticmethod
    def parse_read(raw: dict[bytes, bytes], raw_errors: dict[bytes, bytes]) -> Funnel:
        """The funnel :meth:`read` returns, from the replies of :meth:`queue_read`."""
        errors: dict[str, dict[str, int]] = {}
        for name, count in raw_errors.items():
            state, _, code = name.decode().partition(":")
            if int(count):
                errors.setdefault(state, {})[code] = int(count)
        current = {name.decode(): int(count) for name, count in raw.items() if int(count)}
        return Funnel(current, errors)
