"""The idempotency ledger: one entry per (campaign, contact), so no contact is messaged twice.

Hash ``{prefix}ledger:{campaign_id}``, field = contact id, value = JSON
``{"state": "claimed"|"sent"|"failed", "sid", "code", "at_ms", "replica"}``.

A sender claims an entry before each Twilio call and records the outcome after
it. Claims are compare-and-set against the value last seen, in one Lua script,
so of two replicas racing for a contact exactly one calls Twilio. Claim times
come from the Redis server's clock, so replicas never disagree about a claim's age.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from shared.redis import Keys


class LedgerState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"


FINAL_STATES = frozenset({LedgerState.SENT, LedgerState.FAILED})

# KEYS[1]: ledger hash. ARGV: field, expected value ('' = absent), replica, ttl_s.
# Claims the field when it still holds the expected value: returns {1, new value},
# or {0, current value} when another claim or outcome got there first.
_CLAIM = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then
  return {0, current}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local value = '{"state":"claimed","sid":null,"code":null,"at_ms":'
  .. string.format('%d', now_ms) .. ',"replica":' .. cjson.encode(ARGV[3]) .. '}'
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, value}
"""

# KEYS[1]: ledger hash. ARGV: field, expected value. Deletes the field if unchanged.
_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    state: LedgerState
    sid: str | None
    code: int | None
    at_ms: int
    replica: str

    @classmethod
    def from_json(cls, raw: str) -> LedgerEntry:
        data = json.loads(raw)
        return cls(
            state=LedgerState(data["state"]),
            sid=data.get("sid"),
            code=data.get("code"),
            at_ms=int(data["at_ms"]),
            replica=str(data.get("replica", "")),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "state": self.state.value,
                "sid": self.sid,
                "code": self.code,
                "at_ms": self.at_ms,
                "replica": self.replica,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A ledger entry as read, with the raw value (for compare-and-set) and Redis's time."""

    entry: LedgerEntry | None
    raw: str | None
    now_ms: int


class Verdict(StrEnum):
    FREE = "free"  # nobody claimed it: claim and send
    FINAL = "final"  # sent or failed: re-emit the recorded outcome
    BUSY = "busy"  # a fresh claim: its owner is calling Twilio right now
    IN_DOUBT = "in_doubt"  # an old claim whose owner is gone: ask Twilio what happened


def verdict(snapshot: Snapshot, stale_after_ms: int) -> Verdict:
    entry = snapshot.entry
    if entry is None:
        return Verdict.FREE
    if entry.state in FINAL_STATES:
        return Verdict.FINAL
    if snapshot.now_ms - entry.at_ms < stale_after_ms:
        return Verdict.BUSY
    return Verdict.IN_DOUBT


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Ledger:
    def __init__(self, redis: Redis, keys: Keys, replica_id: str, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.replica_id = replica_id
        self._ttl_s = ttl_s
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def key(self, campaign_id: str) -> str:
        return self._keys("ledger", campaign_id)

    async def read(self, campaign_id: str, contact_id: str) -> Snapshot:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.key(campaign_id), contact_id)
            pipe.time()
            raw_value, (seconds, micros) = await pipe.execute()
        raw = _text(raw_value)
        entry = LedgerEntry.from_json(raw) if raw else None
        return Snapshot(entry=entry, raw=raw, now_ms=int(seconds) * 1000 + int(micros) // 1000)

    async def claim(
        self, campaign_id: str, contact_id: str, expected_raw: str | None
    ) -> str | None:
        """Claim the contact if its entry is still ``expected_raw`` (None: absent).

        Returns the new claim's raw value, or None when someone else changed it first.
        """
        claimed, value = await self._claim(
            keys=[self.key(campaign_id)],
            args=[contact_id, expected_raw or "", self.replica_id, self._ttl_s],
        )
        return _text(value) if int(claimed) else None

    async def release(self, campaign_id: str, contact_id: str, claim_raw: str) -> bool:
        """Give up our claim (the campaign stopped before we sent)."""
        return bool(await self._release(keys=[self.key(campaign_id)], args=[contact_id, claim_raw]))

    async def record(
        self,
        campaign_id: str,
        contact_id: str,
        state: LedgerState,
        sid: str | None,
        code: int | None,
    ) -> LedgerEntry:
        entry = LedgerEntry(
            state=state, sid=sid, code=code, at_ms=int(time.time() * 1000), replica=self.replica_id
        )
        key = self.key(campaign_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, contact_id, entry.to_json())
            pipe.expire(key, self._ttl_s)
            await pipe.execute()
        return entry
