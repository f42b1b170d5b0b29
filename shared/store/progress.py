"""Campaign progress in Redis: folded from message.results, read by the api.

A view, rebuildable by replaying message.results: each contact is counted once,
whatever the number of times its result is delivered. A whole poll batch of results
is folded by one Lua script (``fold_many``), which Redis runs entirely or not at
all: a metrics replica that dies mid-batch leaves every result of it counted or none,
and the batch read again is counted once.

Layout (under the prefix):
- ``progress:{id}``           hash: total, batch_size, batches_total, batches_emitted,
                              emitted (contacts), processed, sent, failed, skipped,
                              cancelled, expired, jobs_completed,
                              started_ms, first_result_ms, last_result_ms, finished_ms,
                              first_send_ms, last_send_ms (of sent or failed results
                              only: the sending time a rate is read over)
- ``progress:{id}:outcomes``  hash: contact id -> its terminal outcome
- ``progress:{id}:batches``   hash: batch index -> contacts of that batch with an outcome
- ``progress:{id}:errors``    hash: Twilio error code -> failed contacts
- ``progress:{id}:retryable`` set: contacts whose failure may be retried
- ``jobs:completed``, ``jobs:failed``  lists: the newest finished runs, as JSON records

The fold also adds the results it newly counted as sent or failed to the campaign's
rate series (shared/store/rate_series.py), in the same script.

Once a run ends, its progress, errors and rate series expire after PROGRESS_TTL_S and
its per-contact keys after RESULTS_TTL_S (services/metrics/settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import orjson
from redis.asyncio import Redis

from shared.redis import Keys
from shared.store.rate_series import FAILED, RATE_SERIES_LUA, SENT, RateSeriesStore, sends_key

JobKind = Literal["completed", "failed"]
Outcome = Literal["sent", "failed", "skipped", "cancelled", "expired"]
# Skipped contacts are also counted by reason, as skipped_{reason} in progress:{id}.
SKIPPED_PREFIX = "skipped_"
COUNTERS = ("processed", "sent", "failed", "skipped", "cancelled", "expired", "jobs_completed")

# Results of a whole poll batch in one call, as groups that share a campaign, outcome,
# batch index, error code, retryable flag and skip reason. KEYS: six a campaign, in
# this order: progress, outcomes, batches, errors, retryable, rate series of sends.
# ARGV: each group in turn as: offset of its campaign's keys in KEYS (0, 6, 12...),
# outcome, batch index, error
# code ('' for none), '1' for retryable failures, a further counter of the progress
# hash to add them to ('' for none), the number of results n, then n pairs of contact
# id and time of the result in ms. Groups are folded in order, each as the one-group
# fold always did. Returns {contacts newly counted, 1 if they complete the campaign
# else 0} for each group, flattened. Newly counted sends and failures are added to
# the rate series by their second, once a campaign at the end.
_FOLD_MANY = (
    RATE_SERIES_LUA
    + f"""
local RATE_LETTERS = {{sent = '{SENT}', failed = '{FAILED}'}}
local rates = {{}}
"""
    + """
local replies = {}
local i = 1
while i <= #ARGV do
  local k = tonumber(ARGV[i])
  local progress, outcomes, batches = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local errors, retryable = KEYS[k + 4], KEYS[k + 5]
  local outcome, batch, code = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local retry, counter = ARGV[i + 4], ARGV[i + 5]
  local stop = i + 7 + 2 * tonumber(ARGV[i + 6])
  local new = 0
  -- Times of the newly counted results only: a repeated result changes nothing.
  local first_ms, first_at, last_ms, last_at
  local rate_letter = RATE_LETTERS[outcome]
  local rate_counts
  if rate_letter ~= nil then
    rates[k] = rates[k] or {}
    rate_counts = rates[k]
  end
  for j = i + 7, stop - 1, 2 do
    if redis.call('HSETNX', outcomes, ARGV[j], outcome) == 1 then
      new = new + 1
      if retry == '1' then
        redis.call('SADD', retryable, ARGV[j])
      end
      local at = tonumber(ARGV[j + 1])
      if first_ms == nil or at < first_ms then
        first_ms, first_at = at, ARGV[j + 1]
      end
      if last_ms == nil or at > last_ms then
        last_ms, last_at = at, ARGV[j + 1]
      end
      if rate_counts ~= nil then
        local second = math.floor(at / 1000)
        local in_second = rate_counts[second] or {}
        in_second[rate_letter] = (in_second[rate_letter] or 0) + 1
        rate_counts[second] = in_second
      end
    end
  end
  i = stop
  local completes = 0
  if new > 0 then
    local processed = redis.call('HINCRBY', progress, 'processed', new)
    redis.call('HINCRBY', progress, outcome, new)
    if counter ~= '' then
      redis.call('HINCRBY', progress, counter, new)
    end
    if code ~= '' then
      redis.call('HINCRBY', errors, code, new)
    end
    redis.call('HSETNX', progress, 'first_result_ms', first_at)
    local last = tonumber(redis.call('HGET', progress, 'last_result_ms') or '0')
    if last_ms > last then
      redis.call('HSET', progress, 'last_result_ms', last_at)
    end
    if outcome == 'sent' or outcome == 'failed' then
      local first_send = tonumber(redis.call('HGET', progress, 'first_send_ms') or '0')
      if first_send == 0 or first_ms < first_send then
        redis.call('HSET', progress, 'first_send_ms', first_at)
      end
      local last_send = tonumber(redis.call('HGET', progress, 'last_send_ms') or '0')
      if last_ms > last_send then
        redis.call('HSET', progress, 'last_send_ms', last_at)
      end
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
      redis.call('HSET', progress, 'finished_ms', last_at)
      completes = 1
    end
  end
  replies[#replies + 1] = new
  replies[#replies + 1] = completes
end
for k, counts in pairs(rates) do
  rate_series_add(KEYS[k + 6], counts)
end
return replies
"""
)
# The script's first five keys of a campaign, in its order; its rate series is sixth.
_CAMPAIGN_PARTS = ((), ("outcomes",), ("batches",), ("errors",), ("retryable",))


@dataclass(frozen=True, slots=True)
class ResultGroup:
    """What the results of one group share: they are counted together."""

    campaign_id: str
    outcome: Outcome
    batch_index: int
    error_code: int | None = None
    retryable: bool = False
    skip_reason: str | None = None


# A contact id and the time of its result, in ms.
ContactResult = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    batch_size: int
    batches_total: int
    batches_emitted: int
    emitted: int
    # Contacts with an outcome of any kind, skipped and cancelled ones too: what the fold
    # counts completion by. What people read as "processed" (send outcomes only) is
    # shared/account.py's.
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
    first_send_ms: int | None = None
    last_send_ms: int | None = None


class ProgressStore:
    """A campaign's live progress in Redis: its counters, per-contact outcome hashes,
    error codes and finished jobs.

    Over the usual length because it owns one key layout (``progress:{id}:*``) whose
    writes (the fold script), reads and expiry must agree; split in two, each half
    would need the other's key names.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._fold_many = redis.register_script(_FOLD_MANY)
        self._rates = RateSeriesStore(redis, keys)

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
        group = ResultGroup(campaign_id, outcome, batch_index, error_code, retryable, skip_reason)
        [reply] = await self.fold_many([(group, [(contact, at_ms) for contact in contact_ids])])
        return reply

    async def fold_many(
        self, groups: Sequence[tuple[ResultGroup, Sequence[ContactResult]]]
    ) -> list[tuple[int, bool]]:
        """Count the results of several groups, in order, in one round trip.

        For each group: how many of its contacts were new, and whether they complete
        its campaign (true for one group at most: the one that reaches the total).
        A contact already counted, in an earlier call or an earlier group, is skipped.
        """
        if not groups:
            return []
        offsets: dict[str, int] = {}
        keys: list[str] = []
        args: list[str | int] = []
        for group, results in groups:
            offset = offsets.get(group.campaign_id)
            if offset is None:
                offset = offsets[group.campaign_id] = len(keys)
                keys.extend(self._key(group.campaign_id, *part) for part in _CAMPAIGN_PARTS)
                keys.append(sends_key(self._keys, group.campaign_id))
            args += (
                offset,
                group.outcome,
                group.batch_index,
                "" if group.error_code is None else group.error_code,
                "1" if group.retryable else "0",
                f"{SKIPPED_PREFIX}{group.skip_reason}" if group.skip_reason else "",
                len(results),
            )
            for contact_id, at_ms in results:
                args += (contact_id, at_ms)
        replies = await self._fold_many(keys=keys, args=args)
        return [
            (int(new), bool(int(completes)))
            for new, completes in zip(replies[::2], replies[1::2], strict=True)
        ]

    async def expire_ended(self, campaign_id: str, progress_ttl_s: int, results_ttl_s: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (self._key(campaign_id), self._key(campaign_id, "errors")):
                pipe.expire(key, progress_ttl_s)
            for part in ("outcomes", "batches", "retryable"):
                pipe.expire(self._key(campaign_id, part), results_ttl_s)
            self._rates.queue_expire(pipe, campaign_id, progress_ttl_s)
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

    def queue_retryable_count(self, pipe: Redis, campaign_id: str) -> None:
        """Queue the count of the contacts a retry-failed run would take, on ``pipe``."""
        pipe.scard(self._key(campaign_id, "retryable"))

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
            self.queue_read(pipe, campaign_id)
            raw, raw_errors = await pipe.execute()
        return self.parse_read(raw, raw_errors)

    async def read_many(self, campaign_ids: Sequence[str]) -> list[Progress | None]:
        """Several campaigns' progress in one round trip, in the order asked."""
        if not campaign_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                self.queue_read(pipe, campaign_id)
            replies = await pipe.execute()
        return [self.parse_read(*replies[i : i + 2]) for i in range(0, len(replies), 2)]

    def queue_read(self, pipe: Redis, campaign_id: str) -> None:
        """Queue :meth:`read`'s two commands on ``pipe``, for a caller that reads other
        keys in the same round trip; :meth:`parse_read` turns their replies into progress."""
        pipe.hgetall(self._key(campaign_id))
        pipe.hgetall(self._key(campaign_id, "errors"))

    @staticmethod
    def parse_read(raw: dict[bytes, bytes], raw_errors: dict[bytes, bytes]) -> Progress | None:
        """The progress :meth:`read` returns, from the replies of :meth:`queue_read`."""
        if not raw:
            return None
        fields = {key.decode(): int(value) for key, value in raw.items()}
        counted = (
            "total", "batch_size", "batches_total", "batches_emitted", "emitted", "processed",
            "sent", "failed", "skipped", "cancelled", "expired", "jobs_completed",
        )  # fmt: skip
        return Progress(
            **{name: fields.get(name, 0) for name in counted},
            started_ms=fields.get("started_ms"),
            first_result_ms=fields.get("first_result_ms"),
            last_result_ms=fields.get("last_result_ms"),
            finished_ms=fields.get("finished_ms"),
            first_send_ms=fields.get("first_send_ms"),
            last_send_ms=fields.get("last_send_ms"),
            errors={int(code): int(n) for code, n in raw_errors.items()},
            skipped_by_reason={
                name.removeprefix(SKIPPED_PREFIX): n
                for name, n in fields.items()
                if name.startswith(SKIPPED_PREFIX)
            },
        )
