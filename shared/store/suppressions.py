"""Numbers that opted out, per Twilio account: nobody on the list gets a campaign message.

The record is PostgreSQL's (tables ``suppressions`` and ``suppression_audit``, migration
0004): each change and its audit entry are written in one transaction. Redis keeps a
copy of the numbers for the dispatcher, which asks about a whole batch in one ZMSCORE:

- ``suppressions:{account}``         sorted set: E.164 number -> when added (ms)
- ``suppressions:{account}:loaded``  present once the set holds every number of the
                                     record; a Redis that lost its data lost this too,
                                     and the set is filled from the record again before
                                     any batch is admitted

The copy errs on the side of not sending: a number goes into it before the record, and
leaves it after. The sender adds a number to the copy the moment Twilio answers 21610;
the metrics service writes the record from that result (services/metrics/fold.py).

Numbers are E.164 without the ``whatsapp:`` prefix: an opt-out covers the person,
whatever the channel the STOP came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from shared.database.pool import PoolSource, pool_source
from shared.phones import WHATSAPP_PREFIX
from shared.redis import Keys

Reason = str  # "inbound_stop", "error_21610", "api", ...
# Who made a change: a user id, "recipient" (STOP/START replies) or "twilio" (its errors).
Actor = str
INBOUND_STOP: Reason = "inbound_stop"
# Numbers written to the copy per ZADD when it is filled from the record.
FILL_CHUNK = 5_000

# New numbers only: one already listed keeps its first reason, and nothing changed, so
# nothing is audited.
_ADD = """
WITH added AS (
    INSERT INTO suppressions (account_sid, phone, reason)
    SELECT $1, phone, reason FROM unnest($2::text[], $3::text[]) AS n(phone, reason)
    ON CONFLICT DO NOTHING
    RETURNING phone, reason, added_at
)
INSERT INTO suppression_audit (account_sid, at, action, phone, reason, actor)
SELECT $1, added_at, 'added', phone, reason, $4 FROM added
"""


@dataclass(frozen=True, slots=True)
class Suppression:
    phone: str
    reason: Reason
    added_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    action: str  # "added" or "removed"
    phone: str
    reason: Reason  # the suppression's reason, for a removal the one it had
    actor: Actor


@dataclass(frozen=True, slots=True)
class Removal:
    """What a removal found: the entry's reason (None: not on the list) and whether it
    was lifted (False when ``lifts`` refused that reason)."""

    reason: Reason | None
    removed: bool


def bare(phone: str) -> str:
    return phone.strip().removeprefix(WHATSAPP_PREFIX)


class SuppressionCache:
    """The Redis copy of one account's numbers."""

    def __init__(self, redis: Redis, keys: Keys, account_sid: str) -> None:
        self._redis = redis
        self._numbers = keys("suppressions", account_sid)
        self._loaded = keys("suppressions", account_sid, "loaded")

    async def add(self, *phones_e164: str) -> None:
        if phones_e164:
            now_ms = int(time.time() * 1000)
            await self._redis.zadd(self._numbers, dict.fromkeys(map(bare, phones_e164), now_ms))

    async def remove(self, phone_e164: str) -> None:
        await self._redis.zrem(self._numbers, bare(phone_e164))

    async def among(self, phones_e164: Sequence[str]) -> set[str] | None:
        """Those of the numbers in the copy, as given; None when the copy is not filled."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._loaded)
            pipe.zmscore(self._numbers, [bare(p) for p in phones_e164])
            loaded, scores = await pipe.execute()
        if not loaded:
            return None
        return {
            phone for phone, score in zip(phones_e164, scores, strict=True) if score is not None
        }

    async def fill(self, phones: Sequence[str]) -> None:
        """Add the record's numbers (kept: any the copy has beyond them), then mark it
        filled."""
        now_ms = int(time.time() * 1000)
        for start in range(0, len(phones), FILL_CHUNK):
            chunk = phones[start : start + FILL_CHUNK]
            await self._redis.zadd(self._numbers, dict.fromkeys(chunk, now_ms), nx=True)
        await self._redis.set(self._loaded, 1)


class SuppressionStore:
    """One account's opt-outs: the record in PostgreSQL, the copy in Redis beside it."""

    def __init__(
        self, database: asyncpg.Pool | PoolSource, cache: SuppressionCache, account_sid: str
    ) -> None:
        self._pool = pool_source(database)
        self._cache = cache
        self._account = account_sid

    async def add(self, phone_e164: str, reason: Reason, actor: Actor = "twilio") -> bool:
        """Suppress the number; True if it was not already. A repeat keeps the first reason
        and is not audited (nothing changed)."""
        return await self.add_many([(phone_e164, reason)], actor) == 1

    async def add_many(self, entries: Sequence[tuple[str, Reason]], actor: Actor) -> int:
        """Suppress several numbers in one statement; returns how many were new."""
        first = {bare(phone): reason for phone, reason in reversed(entries)}
        if not first:
            return 0
        await self._cache.add(*first)
        status = await self._pool().execute(
            _ADD, self._account, list(first), list(first.values()), actor
        )
        return int(status.split()[-1])

    async def remove(
        self,
        phone_e164: str,
        actor: Actor,
        lifts: Callable[[Reason], bool] = lambda _reason: True,
    ) -> Removal:
        """Lift the suppression if ``lifts`` accepts its reason, with its audit entry."""
        phone = bare(phone_e164)
        async with self._pool().acquire() as connection, connection.transaction():
            reason = await connection.fetchval(
                "SELECT reason FROM suppressions WHERE account_sid = $1 AND phone = $2 FOR UPDATE",
                self._account,
                phone,
            )
            if reason is not None and not lifts(reason):
                return Removal(reason, removed=False)
            if reason is not None:
                await connection.execute(
                    "DELETE FROM suppressions WHERE account_sid = $1 AND phone = $2",
                    self._account,
                    phone,
                )
                await connection.execute(
                    "INSERT INTO suppression_audit (account_sid, action, phone, reason, actor)"
                    " VALUES ($1, 'removed', $2, $3, $4)",
                    self._account,
                    phone,
                    reason,
                    actor,
                )
        # Also when it was not listed: a copy left behind by a removal cut short goes now.
        await self._cache.remove(phone)
        return Removal(reason, removed=reason is not None)

    async def suppressed_among(self, phones_e164: Sequence[str]) -> set[str]:
        """Those of the numbers on the list, as given, in one round trip to Redis (the
        copy is filled from the record first if Redis lost it)."""
        if not phones_e164:
            return set()
        found = await self._cache.among(phones_e164)
        if found is None:
            await self.fill_cache()
            found = await self._cache.among(phones_e164)
            assert found is not None
        return found

    async def fill_cache(self) -> None:
        rows = await self._pool().fetch(
            "SELECT phone FROM suppressions WHERE account_sid = $1", self._account
        )
        await self._cache.fill([row[0] for row in rows])

    async def get(self, phone_e164: str) -> Suppression | None:
        row = await self._pool().fetchrow(
            "SELECT phone, reason, added_at FROM suppressions"
            " WHERE account_sid = $1 AND phone = $2",
            self._account,
            bare(phone_e164),
        )
        return Suppression(*row) if row is not None else None

    async def page(self, offset: int, limit: int) -> tuple[list[Suppression], int]:
        """Newest first, and how many there are in all."""
        async with self._pool().acquire() as connection:
            rows = await connection.fetch(
                "SELECT phone, reason, added_at FROM suppressions WHERE account_sid = $1"
                " ORDER BY added_at DESC, phone DESC LIMIT $2 OFFSET $3",
                self._account,
                limit,
                offset,
            )
            total = await connection.fetchval(
                "SELECT count(*) FROM suppressions WHERE account_sid = $1", self._account
            )
        return [Suppression(*row) for row in rows], int(total)

    async def audit_page(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        """Changes to the list, newest first, and how many there are in all."""
        async with self._pool().acquire() as connection:
            rows = await connection.fetch(
                "SELECT at, action, phone, reason, actor FROM suppression_audit"
                " WHERE account_sid = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                self._account,
                limit,
                offset,
            )
            total = await connection.fetchval(
                "SELECT count(*) FROM suppression_audit WHERE account_sid = $1", self._account
            )
        return [AuditEntry(*row) for row in rows], int(total)
