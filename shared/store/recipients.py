"""Each campaign's recipients in PostgreSQL: the audience frozen at creation, in send
order (tables ``campaign_audiences`` and ``recipients``, migration 0003).

Written once by the api with ``COPY``, streamed, so that a million recipients never
sit in one statement or in the api's memory twice. Read by the dispatcher in pages by
key (``position >= cursor``), so each page costs the same however deep it is. A
finished campaign's rows are deleted after the retention time, in bounded batches.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from redis.asyncio import Redis

from shared.database.pool import PoolSource, pool_source
from shared.events.models import Recipient
from shared.redis import Keys
from shared.store.funnel import advance
from shared.store.recipient_states import STATE_FILTERS, RecipientState

PAGE_SIZE = 1_000
# Rows deleted per statement when a campaign's recipients expire: each delete is a
# short transaction, so the purge never holds locks or bloats WAL for a million rows.
PURGE_BATCH = 10_000

_COLUMNS = ["campaign_id", "position", "contact_id", "phone", "name", "vars"]
_PAGE = """
SELECT contact_id, phone, name, vars FROM recipients
WHERE campaign_id = $1 AND position >= $2
ORDER BY position
LIMIT $3
"""
_PURGE_SOME = """
DELETE FROM recipients
WHERE (campaign_id, position) IN (
    SELECT campaign_id, position FROM recipients WHERE campaign_id = $1 LIMIT $2
)
"""

# Outcomes of a poll batch in one statement: each column an array, joined by key.
# Only a recipient without an outcome takes one, so a batch read again after a crash
# writes nothing new, and the first terminal result stays, as in the progress counts.
_RECORD_OUTCOMES = """
UPDATE recipients AS r
SET state = o.state, error_code = o.error_code, message_sid = o.message_sid,
    reason = o.reason, outcome_at = o.outcome_at
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[],
            $7::timestamptz[])
     AS o(campaign_id, position, state, error_code, message_sid, reason, outcome_at)
WHERE r.campaign_id = o.campaign_id AND r.position = o.position AND r.state IS NULL
"""

# Receipts of a poll batch in one statement, each message's furthest state per batch
# (shared/store/funnel.py's advance rule, applied in Python first). A row moves only
# forward, and a failure after delivered or read changes nothing: a receipt read twice,
# or late, writes nothing.
_RANK = """CASE {0} WHEN 'queued' THEN 1 WHEN 'sent' THEN 2 WHEN 'delivered' THEN 3
    WHEN 'read' THEN 4 WHEN 'undelivered' THEN 5 WHEN 'failed' THEN 5 ELSE 0 END"""
_RECORD_RECEIPTS = f"""
UPDATE recipients AS r
SET delivery_state = o.state, delivery_error_code = o.error_code, delivery_at = o.at
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[])
     AS o(campaign_id, position, state, error_code, at)
WHERE r.campaign_id = o.campaign_id AND r.position = o.position
  AND {_RANK.format("o.state")} > {_RANK.format("r.delivery_state")}
  AND NOT (o.state IN ('failed', 'undelivered') AND {_RANK.format("r.delivery_state")} >= 3)
"""

_RESULT_COLUMNS = """
position, contact_id, phone, name, state, error_code, message_sid, reason, outcome_at,
delivery_state, delivery_error_code, delivery_at
"""


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """A recipient and what became of it (``state`` None: no outcome yet)."""

    position: int
    contact_id: str
    phone: str
    name: str | None
    state: str | None
    error_code: int | None
    message_sid: str | None
    reason: str | None
    outcome_at: datetime | None
    # How far its message got after Twilio accepted it (None: no receipt yet).
    delivery_state: str | None = None
    delivery_error_code: int | None = None
    delivery_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecipientReceipt:
    campaign_id: str
    position: int
    state: str
    at: datetime
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    campaign_id: str
    position: int
    state: str
    at: datetime
    error_code: int | None = None
    message_sid: str | None = None
    reason: str | None = None


class AudienceExists(Exception):
    """A campaign's audience is frozen once; writing it again is a mistake upstream."""


class RecipientStore:
    def __init__(self, pool: asyncpg.Pool | PoolSource) -> None:
        self._pool = pool_source(pool)

    async def freeze(
        self, campaign_id: str, recipients: Iterable[Recipient] | AsyncIterable[Recipient]
    ) -> int:
        """Write a campaign's audience in send order, in one transaction; returns its
        size. Raises AudienceExists when the campaign has one already."""
        async with self._pool().acquire() as connection, connection.transaction():
            return await freeze_on(connection, campaign_id, recipients)

    async def size(self, campaign_id: str) -> int:
        """How many recipients the campaign's audience has (0 when it has none)."""
        size = await self._pool().fetchval(
            "SELECT size FROM campaign_audiences WHERE campaign_id = $1", campaign_id
        )
        return int(size or 0)

    async def page(self, campaign_id: str, start: int, count: int) -> list[Recipient]:
        """Up to ``count`` recipients from send position ``start`` on."""
        rows = await self._pool().fetch(_PAGE, campaign_id, start, count)
        # Validated again, though they were when written: a row changed by hand fails
        # here, naming the field, rather than later in a half-built batch. (Pydantic's
        # validation costs about 1 µs a row, less than model_construct's.)
        return [
            Recipient(contact_id=row[0], phone=row[1], name=row[2], vars=orjson.loads(row[3]))
            for row in rows
        ]

    async def results(
        self, campaign_id: str, start: int, count: int, state: RecipientState | None = None
    ) -> list[RecipientResult]:
        """Up to ``count`` recipients with their outcomes, in send order from position
        ``start`` on (read by key: the next page starts after the last position), only
        those in ``state`` when given."""
        where = f" AND ({STATE_FILTERS[state]})" if state is not None else ""
        rows = await self._pool().fetch(
            f"SELECT {_RESULT_COLUMNS} FROM recipients"
            f" WHERE campaign_id = $1 AND position >= $2{where} ORDER BY position LIMIT $3",
            campaign_id,
            start,
            count,
        )
        return [RecipientResult(*row) for row in rows]

    async def results_page(
        self, campaign_id: str, offset: int, count: int, state: RecipientState | None = None
    ) -> tuple[list[RecipientResult], int]:
        """A page of recipients for people to read (the ``offset``-th on, in send
        order, only those in ``state`` when given), and how many there are in all."""
        if state is None:
            return await self.results(campaign_id, offset, count), await self.size(campaign_id)
        where = f"campaign_id = $1 AND ({STATE_FILTERS[state]})"
        pool = self._pool()
        rows = await pool.fetch(
            f"SELECT {_RESULT_COLUMNS} FROM recipients WHERE {where}"
            " ORDER BY position LIMIT $2 OFFSET $3",
            campaign_id,
            count,
            offset,
        )
        total = await pool.fetchval(f"SELECT count(*) FROM recipients WHERE {where}", campaign_id)
        return [RecipientResult(*row) for row in rows], int(total)

    async def pages(
        self, campaign_id: str, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Sequence[Recipient]]:
        start = 0
        while page := await self.page(campaign_id, start, page_size):
            yield page
            start += len(page)

    async def record_outcomes(self, outcomes: Sequence[RecipientOutcome]) -> int:
        """Write outcomes in one statement; the first per recipient counts (see
        _RECORD_OUTCOMES). Returns how many recipients took one."""
        if not outcomes:
            return 0
        first: dict[tuple[str, int], RecipientOutcome] = {}
        for outcome in outcomes:
            first.setdefault((outcome.campaign_id, outcome.position), outcome)
        rows = first.values()
        status = await self._pool().execute(
            _RECORD_OUTCOMES,
            [o.campaign_id for o in rows],
            [o.position for o in rows],
            [o.state for o in rows],
            [o.error_code for o in rows],
            [o.message_sid for o in rows],
            [o.reason for o in rows],
            [o.at for o in rows],
        )
        return int(status.split()[-1])

    async def record_receipts(self, receipts: Sequence[RecipientReceipt]) -> int:
        """Write delivery receipts (funnel states) in one statement, each recipient's
        furthest; returns how many rows moved forward."""
        furthest: dict[tuple[str, int], RecipientReceipt] = {}
        for receipt in receipts:
            key = (receipt.campaign_id, receipt.position)
            current = furthest.get(key)
            if advance(current.state if current else None, receipt.state) is not None:
                furthest[key] = receipt
        if not furthest:
            return 0
        rows = furthest.values()
        status = await self._pool().execute(
            _RECORD_RECEIPTS,
            [r.campaign_id for r in rows],
            [r.position for r in rows],
            [r.state for r in rows],
            [r.error_code for r in rows],
            [r.at for r in rows],
        )
        return int(status.split()[-1])

    async def expire_after(self, campaign_id: str, when: datetime) -> None:
        """The campaign has ended: its recipients may be deleted after ``when``."""
        await self._pool().execute(
            "UPDATE campaign_audiences SET purge_after = $2"
            " WHERE campaign_id = $1 AND purge_after IS NULL",
            campaign_id,
            when,
        )

    async def purge_expired(self, now: datetime, budget: int = 10 * PURGE_BATCH) -> int:
        """Delete recipients whose retention has passed, at most ``budget`` rows, in
        batches; an audience left empty goes too. Returns how many rows went."""
        pool, deleted = self._pool(), 0
        due = await pool.fetch(
            "SELECT campaign_id FROM campaign_audiences WHERE purge_after <= $1"
            " ORDER BY purge_after LIMIT 100",
            now,
        )
        for (campaign_id,) in due:
            while deleted < budget:
                status = await pool.execute(_PURGE_SOME, campaign_id, PURGE_BATCH)
                removed = int(status.split()[-1])
                deleted += removed
                if removed < PURGE_BATCH:
                    await pool.execute(
                        "DELETE FROM campaign_audiences WHERE campaign_id = $1", campaign_id
                    )
                    break
            if deleted >= budget:
                break
        return deleted


async def freeze_on(
    connection: asyncpg.Connection,
    campaign_id: str,
    recipients: Iterable[Recipient] | AsyncIterable[Recipient],
) -> int:
    """:meth:`RecipientStore.freeze` inside the caller's transaction on ``connection``."""
    counter = _Counted(campaign_id, recipients)
    try:
        await connection.execute(
            "INSERT INTO campaign_audiences (campaign_id, size) VALUES ($1, 0)", campaign_id
        )
    except asyncpg.UniqueViolationError:
        raise AudienceExists(campaign_id) from None
    await connection.copy_records_to_table(
        "recipients", records=counter.records(), columns=_COLUMNS
    )
    await connection.execute(
        "UPDATE campaign_audiences SET size = $2 WHERE campaign_id = $1",
        campaign_id,
        counter.count,
    )
    return counter.count


class _Counted:
    """The audience as COPY records, counted as they stream by."""

    def __init__(
        self, campaign_id: str, recipients: Iterable[Recipient] | AsyncIterable[Recipient]
    ) -> None:
        self._campaign_id = campaign_id
        self._recipients = recipients
        self.count = 0

    def records(self) -> Iterator[tuple[object, ...]] | AsyncIterator[tuple[object, ...]]:
        if isinstance(self._recipients, AsyncIterable):
            return self._async_records(self._recipients)
        return (self._record(recipient) for recipient in self._recipients)

    async def _async_records(
        self, recipients: AsyncIterable[Recipient]
    ) -> AsyncIterator[tuple[object, ...]]:
        async for recipient in recipients:
            yield self._record(recipient)

    def _record(self, recipient: Recipient) -> tuple[object, ...]:
        position = self.count
        self.count += 1
        return (
            self._campaign_id,
            position,
            recipient.contact_id,
            recipient.phone,
            recipient.name,
            orjson.dumps(recipient.vars).decode(),
        )


async def move_audiences_from_redis(redis: Redis, keys: Keys, store: RecipientStore) -> int:
    """Audiences that earlier versions kept in Redis (``campaign:{id}:audience``, a list
    of Recipient JSON in send order) move here, then leave Redis. Idempotent: an
    audience already moved is only deleted from Redis."""
    moved = 0
    prefix, suffix = keys("campaign", ""), ":audience"
    async for raw_key in redis.scan_iter(match=f"{prefix}*{suffix}", count=1_000):
        key = raw_key.decode()
        try:
            moved += await store.freeze(key[len(prefix) : -len(suffix)], _listed(redis, key))
        except AudienceExists:
            pass
        await redis.delete(key)
    return moved


async def _listed(redis: Redis, key: str) -> AsyncIterator[Recipient]:
    start = 0
    while chunk := await redis.lrange(key, start, start + PAGE_SIZE - 1):
        for raw in chunk:
            yield Recipient.model_validate_json(raw)
        start += len(chunk)
