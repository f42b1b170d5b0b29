"""Campaign progress in Redis: folded from message.results, read by the api.

A view, rebuildable by replaying message.results: each contact is counted once,
whatever the number of times its result is delivered.

Layout (under the prefix):
- ``progress:{id}``           hash: total, batch_size, batches_total, batches_emitted,
                              processed, sent, failed, skipped, cancelled, expired, jobs_completed,
                              started_ms, first_result_ms, last_result_ms, finished_ms
- ``progress:{id}:outcomes``  hash: contact id -> its terminal outcome
- ``progress:{id}:batches``   hash: batch index -> contacts of that batch with an outcome
- ``progress:{id}:errors``    hash: Twilio error code -> failed contacts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson
from redis.asyncio import Redis

from shared.redis import Keys

Outcome = Literal["sent", "failed", "skipped", "cancelled", "expired"]
COUNTERS = ("processed", "sent", "failed", "skipped", "cancelled", "expired", "jobs_completed")

# KEYS: progress, outcomes, batches, errors, retryable. ARGV: contact, outcome, batch index,
# error code ('' for none), time of the result in ms, '1' for a retryable failure.
# Returns 0 for a result already counted, 1 for a new one, 2 for the one that completes.
_FOLD = """
local progress, outcomes, batches, errors = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local contact, outcome, batch, code, at_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HSETNX', outcomes, contact, outcome) == 0 then
  return 0
end
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[5], contact)
end
local processed = redis.call('HINCRBY', progress, 'processed', 1)
redis.call('HINCRBY', progress, outcome, 1)
if code ~= '' then
  redis.call('HINCRBY', errors, code, 1)
end
redis.call('HSETNX', progress, 'first_result_ms', at_ms)
local last = tonumber(redis.call('HGET', progress, 'last_result_ms') or '0')
if tonumber(at_ms) > last then
  redis.call('HSET', progress, 'last_result_ms', at_ms)
end
local total = tonumber(redis.call('HGET', progress, 'total') or '-1')
local batch_size = tonumber(redis.call('HGET', progress, 'batch_size') or '0')
local in_batch = redis.call('HINCRBY', batches, batch, 1)
if batch_size > 0 and total >= 0 then
  local expected = math.min(batch_size, total - tonumber(batch) * batch_size)
  if in_batch == expected then
    redis.call('HINCRBY', progress, 'jobs_completed', 1)
  end
end
if processed == total then
  redis.call('HSET', progress, 'finished_ms', at_ms)
  return 2
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    batch_size: int
    batches_total: int
    batches_emitted: int
    processed: int
    sent: int
    failed: int
    skipped: int
    cancelled: int
    expired: int
    jobs_completed: int
    started_ms: int | None
    first_result_ms: int | None
    last_result_ms: int | None
    finished_ms: int | None
    errors: dict[int, int]


class ProgressStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._fold = redis.register_script(_FOLD)

    def _key(self, campaign_id: str, *part: str) -> str:
        return self._keys("progress", campaign_id, *part)

    async def begin(self, campaign_id: str, total: int, batch_size: int, started_ms: int) -> None:
        """Set a run's size once; a repeated start (a redelivered event) changes nothing."""
        key = self._key(campaign_id)
        batches_total = -(-total // batch_size) if batch_size else 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "total", total)
            pipe.hsetnx(key, "batch_size", batch_size)
            pipe.hsetnx(key, "batches_total", batches_total)
            pipe.hsetnx(key, "started_ms", started_ms)
            await pipe.execute()

    async def record_batch_emitted(self, campaign_id: str, batch_index: int) -> None:
        """The dispatcher's cursor, as a view: batches 0..batch_index are in Kafka."""
        key = self._key(campaign_id)
        current = await self._redis.hget(key, "batches_emitted")
        if current is None or int(current) < batch_index + 1:
            await self._redis.hset(key, "batches_emitted", batch_index + 1)

    async def fold(
        self,
        campaign_id: str,
        contact_id: str,
        outcome: Outcome,
        batch_index: int,
        error_code: int | None,
        at_ms: int,
        retryable: bool = False,
    ) -> int:
        """Count one contact's outcome. 0: already counted; 1: counted; 2: campaign complete.

        Retryable failures are also remembered, for retry-failed.
        """
        return int(
            await self._fold(
                keys=[
                    self._key(campaign_id),
                    self._key(campaign_id, "outcomes"),
                    self._key(campaign_id, "batches"),
                    self._key(campaign_id, "errors"),
                    self._key(campaign_id, "retryable"),
                ],
                args=[
                    contact_id,
                    outcome,
                    batch_index,
                    "" if error_code is None else error_code,
                    at_ms,
                    "1" if retryable else "0",
                ],
            )
        )

    async def take_retryable_failures(self, campaign_id: str) -> set[str]:
        """Contacts whose outcome was a failure worth trying again, taken atomically:
        of two retry requests only one gets them, so no contact is retried twice."""
        key = self._key(campaign_id, "retryable")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.smembers(key)
            pipe.delete(key)
            members, _ = await pipe.execute()
        return {member.decode() for member in members}

    async def definitely_failed(self, campaign_id: str, contact_ids: set[str]) -> set[str]:
        """Of these contacts, those the senders' ledger records as failed.

        A retryable failure whose outcome stayed unknown (Twilio may have the message)
        keeps its claim in the ledger instead, and must not be sent again.
        """
        ids = sorted(contact_ids)
        if not ids:
            return set()
        entries = await self._redis.hmget(self._keys("ledger", campaign_id), ids)
        return {
            contact
            for contact, entry in zip(ids, entries, strict=True)
            if entry is not None and orjson.loads(entry).get("state") == "failed"
        }

    async def read(self, campaign_id: str) -> Progress | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(campaign_id))
            pipe.hgetall(self._key(campaign_id, "errors"))
            raw, raw_errors = await pipe.execute()
        if not raw:
            return None
        fields = {key.decode(): int(value) for key, value in raw.items()}

        def count(name: str) -> int:
            return fields.get(name, 0)

        return Progress(
            total=count("total"),
            batch_size=count("batch_size"),
            batches_total=count("batches_total"),
            batches_emitted=count("batches_emitted"),
            processed=count("processed"),
            sent=count("sent"),
            failed=count("failed"),
            skipped=count("skipped"),
            cancelled=count("cancelled"),
            expired=count("expired"),
            jobs_completed=count("jobs_completed"),
            started_ms=fields.get("started_ms"),
            first_result_ms=fields.get("first_result_ms"),
            last_result_ms=fields.get("last_result_ms"),
            finished_ms=fields.get("finished_ms"),
            errors={int(code): int(n) for code, n in raw_errors.items()},
        )
