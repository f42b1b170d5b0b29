"""A campaign's delivery funnel in Redis, folded from Twilio's delivery receipts.

Receipts come late, twice, or out of order (each callback is its own HTTP request,
and two metrics replicas may fold receipts of one campaign at once). So the fold
keeps each message's furthest state and moves it only forward, in one Lua script
per receipt: the same receipt twice, or a `sent` after a `read`, changes nothing.

Layout (under the prefix):
- ``funnel:{id}``         hash: state -> messages whose furthest state it is
                          (queued, sent, delivered, read, failed, undelivered)
- ``funnel:{id}:states``  hash: message sid -> its furthest state
- ``funnel:{id}:errors``  hash: ``{failed|undelivered}:{code}`` -> messages

The three keys expire together, ``ttl_s`` after the newest receipt: a funnel lives
as long as receipts arrive, which is after its campaign ends (a `read` may come
hours later), and is never left half expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from shared.redis import Keys

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


# KEYS: counters, states, errors. ARGV: message sid, reported state, error code
# (NO_CODE for none), ttl in s. Returns 1 when the message moved, else 0.
_FOLD = f"""
local RANK = {_lua_table(RANK)}
local DELIVERED = RANK['delivered']
local counters, states, errors = KEYS[1], KEYS[2], KEYS[3]
local sid, reported, code, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local new_rank = RANK[reported]
if not new_rank then
  return 0
end
local current = redis.call('HGET', states, sid)
local now = 0
if current then
  now = RANK[current] or 0
end
if new_rank <= now then
  return 0
end
local failure = reported == 'failed' or reported == 'undelivered'
if failure and now >= DELIVERED then
  return 0
end
redis.call('HSET', states, sid, reported)
if current then
  redis.call('HINCRBY', counters, current, -1)
end
redis.call('HINCRBY', counters, reported, 1)
if failure then
  redis.call('HINCRBY', errors, reported .. ':' .. code, 1)
end
redis.call('EXPIRE', counters, ttl)
redis.call('EXPIRE', states, ttl)
redis.call('EXPIRE', errors, ttl)
return 1
"""


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
        self._fold = redis.register_script(_FOLD)

    def _key(self, campaign_id: str, *part: str) -> str:
        return self._keys("funnel", campaign_id, *part)

    async def fold(
        self, campaign_id: str, message_sid: str, status: str, error_code: int | None, ttl_s: int
    ) -> bool:
        """Move the message to the reported status if that is forward; True if it moved."""
        reported = state_of(status)
        if reported is None:
            return False
        moved = await self._fold(
            keys=[
                self._key(campaign_id),
                self._key(campaign_id, "states"),
                self._key(campaign_id, "errors"),
            ],
            args=[message_sid, reported, NO_CODE if error_code is None else error_code, ttl_s],
        )
        return bool(int(moved))

    async def read(self, campaign_id: str) -> Funnel:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(campaign_id))
            pipe.hgetall(self._key(campaign_id, "errors"))
            raw, raw_errors = await pipe.execute()
        errors: dict[str, dict[str, int]] = {}
        for name, count in raw_errors.items():
            state, _, code = name.decode().partition(":")
            if int(count):
                errors.setdefault(state, {})[code] = int(count)
        current = {name.decode(): int(count) for name, count in raw.items() if int(count)}
        return Funnel(current, errors)

    async def read_many(self, campaign_ids: list[str]) -> list[Funnel]:
        """Funnels of several campaigns in one round trip (the dashboard's totals)."""
        if not campaign_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                pipe.hgetall(self._key(campaign_id))
            replies = await pipe.execute()
        return [
            Funnel({name.decode(): int(count) for name, count in raw.items() if int(count)})
            for raw in replies
        ]
