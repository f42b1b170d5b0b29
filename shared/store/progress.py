"""Campaign progress in Redis: folded from message.results, read by the api.

A view, rebuildable by replaying message.results: each contact is counted once,
whatever the number of times its result is delivered.

Layout (under the prefix):
- ``progress:{id}``           hash: total, batch_size, batches_total, batches_emitted,
                              emitted (contacts), processed, sent, failed, skipped,
                              cancelled, expired, jobs_completed,
                              started_ms, first_result_ms, last_result_ms, finished_ms
- ``progress:{id}:outcomes``  hash: contact id -> its terminal outcome
- ``progress:{id}:batches``   hash: batch index -> contacts of that batch with an outcome
- ``progress:{id}:errors``    hash: Twilio error code -> failed contacts
- ``progress:{id}:retryable`` set: contacts whose failure may be retried
- ``jobs:completed``, ``jobs:failed``  lists: the newest finished runs, as JSON records

Once a run ends, its progress and errors expire after PROGRESS_TTL_S and its
per-contact keys after RESULTS_TTL_S (services/metrics/settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import orjson
from redis.asyncio import Redis

from shared.redis import Keys

JobKind = Literal["completed", "failed"]
Outcome = Literal["sent", "failed", "skipped", "cancelled", "expired"]
# Skipped contacts are also counted by reason, as skipped_{reason} in progress:{id}.
SKIPPED_PREFIX = "skipped_"
COUNTERS = ("processed", "sent", "failed", "skipped", "cancelled", "expired", "jobs_completed")

# KEYS: progress, outcomes, batches, errors, retryable. ARGV: outcome, batch index,
# error code ('' for none), time of the results in ms, '1' for retryable failures, a
# further counter of the progress hash to add them to ('' for none), then the contacts
# (all of one batch, with one outcome). Returns {contacts newly counted, 1 if they
# complete the campaign else 0}.
_FOLD = """
local progress, outcomes, batches, errors = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local outcome, batch, code, at_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local new = 0
for i = 7, #ARGV do
  if redis.call('HSETNX', outcomes, ARGV[i], outcome) == 1 then
    new = new + 1
    if ARGV[5] == '1' then
      redis.call('SADD', KEYS[5], ARGV[i])
    end
  end
end
if new == 0 then
  return {0, 0}
end
local processed = redis.call('HINCRBY', progress, 'processed', new)
redis.call('HINCRBY', progress, outcome, new)
if ARGV[6] ~= '' then
  redis.call('HINCRBY', progress, ARGV[6], new)
end
if code ~= '' then
  redis.call('HINCRBY', errors, code, new)
end
redis.call('HSETNX', progress, 'first_result_ms', at_ms)
local last = tonumber(redis.call('HGET', progress, 'last_result_ms') or '0')
if tonumber(at_ms) > last then
  redis.call('HSET', progress, 'last_result_ms', at_ms)
end
local total = tonumber(redis.call('HGET', progress, 'total') or '-1')
local batch_size = tonumber(redis.call('HGET', progress, 'batch_size') or '0')
local in_batch = redis.call('HINCRBY', batches, batch, new)
if batch_size > 0 and total >= 0 then
  local expected = math.min(batch_size, total - tonumber(batch) * batch_size)
  if in_batch == expected then
    redis.call('HINCRBY', progress, 'jobs_completed', 1)
  end
end
if processed == total then
  redis.call('HSET', progress, 'finished_ms', at_ms)
  return {new, 1}
end
return {new, 0}
"""


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    batch_size: int
    batches_total: int
    batches_emitted: int
    emitted: int
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
    skipped_by_reason: dict[str, int] = field(default_factory=dict)


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

    async def record_emitted(self, campaign_id: str, batches: int, contacts: int) -> None:
        """The dispatcher's cursor, as a view: this many batches and contacts are out."""
        await self._redis.hset(
            self._key(campaign_id), mapping={"batches_emitted": batches, "emitted": contacts}
        )

    async def fold(
        self,
        campaign_id: str,
        contact_ids: Sequence[str],
        outcome: Outcome,
        batch_index: int,
        error_code: int | None,
        at_ms: int,
        retryable: bool = False,
        skip_reason: str | None = None,
    ) -> tuple[int, bool]:
        """Count the outcome of these contacts of one batch, each once.

        Returns how many were new, and whether they complete the campaign.
        Retryable failures are also remembered, for retry-failed.
        """
        new, completes = await self._fold(
            keys=[
                self._key(campaign_id),
                self._key(campaign_id, "outcomes"),
                self._key(campaign_id, "batches"),
                self._key(campaign_id, "errors"),
                self._key(campaign_id, "retryable"),
            ],
            args=[
                outcome,
                batch_index,
                "" if error_code is None else error_code,
                at_ms,
                "1" if retryable else "0",
                f"{SKIPPED_PREFIX}{skip_reason}" if skip_reason else "",
                *contact_ids,
            ],
        )
        return int(new), bool(int(completes))

    async def expire_ended(
        self, campaign_id: str, audience_key: str, progress_ttl_s: int, results_ttl_s: int
    ) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (self._key(campaign_id), self._key(campaign_id, "errors")):
                pipe.expire(key, progress_ttl_s)
            for part in ("outcomes", "batches", "retryable"):
                pipe.expire(self._key(campaign_id, part), results_ttl_s)
            pipe.expire(audience_key, results_ttl_s)
            await pipe.execute()

    async def record_job(self, kind: JobKind, record: dict, keep: int) -> None:
        """Keep the newest ``keep`` job records of a kind, newest first."""
        key = self._keys("jobs", kind)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, orjson.dumps(record))
            pipe.ltrim(key, 0, keep - 1)
            await pipe.execute()

    async def jobs(self, kind: JobKind) -> list[dict]:
        raw = await self._redis.lrange(self._keys("jobs", kind), 0, -1)
        return [orjson.loads(record) for record in raw]

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
            emitted=count("emitted"),
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
            skipped_by_reason={
                name.removeprefix(SKIPPED_PREFIX): n
                for name, n in fields.items()
                if name.startswith(SKIPPED_PREFIX)
            },
        )
