"""The idempotency ledger: one entry per (campaign, contact), so no contact is messaged twice.

Hash ``{prefix}ledger:{campaign_id}``, field = contact id, value = JSON
``{"state": "claimed"|"sent"|"failed", "sid", "code", "at_ms", "replica"}``.

A sender claims an entry before each Twilio call and records the outcome after
it. Claims are compare-and-set against the value last seen, in a Lua script, so
of two replicas racing for a contact exactly one calls Twilio. The claim is taken
by the limiter's grant script (services/sender/limiter.py), in the same round trip
as the send's grant, with ``CLAIM_FUNCTION`` from here. Claim times come from the
Redis server's clock, so replicas never disagree about a claim's age.

Reads and outcome records are coalesced: the commands of a fetched batch that ask
at about the same time share one pipeline. A record is acknowledged only after its
pipeline ran, so the order "ledger, then Kafka" holds for every command.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from services.sender.coalesce import GATHER_OUTCOMES_S, Coalescer
from shared.redis import Keys
from shared.send_ledger import ledger_key


class LedgerState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"


FINAL_STATES = frozenset({LedgerState.SENT, LedgerState.FAILED})

# A Lua function: writes a fresh claim of ``field`` by ``replica`` at ``now_ms`` (the
# Redis server's clock) and returns it. The one place a claim's JSON is built in Lua.
CLAIM_FUNCTION = """
local function claim_entry(ledger, field, replica, ttl_s, now_ms)
  local value = '{"state":"claimed","sid":null,"code":null,"at_ms":'
    .. string.format('%d', math.floor(now_ms)) .. ',"replica":' .. cjson.encode(replica) .. '}'
  redis.call('HSET', ledger, field, value)
  redis.call('EXPIRE', ledger, ttl_s)
  return value
end
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


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A claim to take with a send's limiter grant: ``field`` of ``key`` if it still
    holds ``expected_raw`` (None: absent), owned by ``replica`` for ``ttl_s``."""

    key: str
    field: str
    expected_raw: str | None
    replica: str
    ttl_s: int


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Ledger:
    def __init__(self, redis: Redis, keys: Keys, replica_id: str, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.replica_id = replica_id
        self._ttl_s = ttl_s
        self._release = redis.register_script(_RELEASE)
        self._reads: Coalescer[tuple[str, str], Snapshot] = Coalescer(self._read_batch)
        # Outcomes arrive as Twilio answers, spread out: a few ms of waiting gathers them.
        self._records: Coalescer[tuple[str, str, str], None] = Coalescer(
            self._record_batch, linger_s=GATHER_OUTCOMES_S
        )

    def key(self, campaign_id: str) -> str:
        return ledger_key(self._keys, campaign_id)

    async def read(self, campaign_id: str, contact_id: str) -> Snapshot:
        return await self._reads.submit((self.key(campaign_id), contact_id))

    async def _read_batch(self, requests: Sequence[tuple[str, str]]) -> list[Snapshot]:
        fields_by_key: dict[str, list[str]] = {}
        for key, field in requests:
            fields_by_key.setdefault(key, []).append(field)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, fields in fields_by_key.items():
                pipe.hmget(key, fields)
            pipe.time()
            *values, (seconds, micros) = await pipe.execute()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        raw_by_request: dict[tuple[str, str], str | None] = {}
        for (key, fields), key_values in zip(fields_by_key.items(), values, strict=True):
            for field, value in zip(fields, key_values, strict=True):
                raw_by_request[(key, field)] = _text(value)
        snapshots = []
        for request in requests:
            raw = raw_by_request[request]
            entry = LedgerEntry.from_json(raw) if raw else None
            snapshots.append(Snapshot(entry=entry, raw=raw, now_ms=now_ms))
        return snapshots

    def claim_request(
        self, campaign_id: str, contact_id: str, expected_raw: str | None
    ) -> ClaimRequest:
        """A claim of the contact if its entry is still ``expected_raw`` (None: absent),
        taken by the limiter's grant script with the send's grant."""
        return ClaimRequest(
            self.key(campaign_id), contact_id, expected_raw, self.replica_id, self._ttl_s
        )

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
        await self._records.submit((self.key(campaign_id), contact_id, entry.to_json()))
        return entry

    async def _record_batch(self, requests: Sequence[tuple[str, str, str]]) -> list[None]:
        values_by_key: dict[str, dict[str, str]] = {}
        for key, field, value in requests:
            values_by_key.setdefault(key, {})[field] = value
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, values in values_by_key.items():
                pipe.hset(key, mapping=values)
                pipe.expire(key, self._ttl_s)
            await pipe.execute()
        return [None] * len(requests)
