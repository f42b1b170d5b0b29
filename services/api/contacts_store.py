"""Each user's contacts in PostgreSQL (table ``contacts``), upserted by phone number.

A phone is one contact per owner (``UNIQUE (owner_id, phone)``); a contact keeps its id
for good, and pages list contacts in the order they were first added.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import orjson
from redis.asyncio import Redis

from shared.redis import Keys


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertResult:
    created: int
    updated: int
    ids: list[str]


def new_contact_id() -> str:
    return f"ct_{secrets.token_hex(10)}"


def _contact(row: asyncpg.Record) -> Contact:
    return Contact(
        phone=row["phone"], name=row["name"], vars=orjson.loads(row["vars"]), id=row["id"]
    )


# A chunk goes in by COPY to a temporary table, then one INSERT ... ON CONFLICT moves
# it: one round trip for the rows, one statement for the upsert.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS contacts_in (
    ord int, id text, phone text, name text, vars jsonb
) ON COMMIT DELETE ROWS
"""
_STAGING_COLUMNS = ["ord", "id", "phone", "name", "vars"]
_UPSERT = """
INSERT INTO contacts AS c (owner_id, id, phone, name, vars)
SELECT $1, id, phone, name, vars FROM contacts_in ORDER BY ord
ON CONFLICT (owner_id, phone) DO UPDATE
    SET name = EXCLUDED.name, vars = EXCLUDED.vars, updated_at = now()
RETURNING c.phone, c.id, xmax = 0 AS created
"""
# Rows that keep the ids they were given (a move from elsewhere): the first one wins.
_INSERT_KEEPING_IDS = """
INSERT INTO contacts (owner_id, id, phone, name, vars)
SELECT $1, id, phone, name, vars FROM contacts_in ORDER BY ord
ON CONFLICT DO NOTHING
"""
_COLUMNS = "id, phone, name, vars"


class ContactStore:
    def __init__(self, database: asyncpg.Pool) -> None:
        self._database = database

    async def upsert(self, user_id: str, contacts: Sequence[Contact]) -> UpsertResult:
        """Create or update contacts (phones already normalised) in one transaction.
        A phone given twice is one contact: created (or updated) by the first, updated
        by the next, and the last one's name and variables stay."""
        if not contacts:
            return UpsertResult(0, 0, [])
        last_of_phone = {contact.phone: contact for contact in contacts}
        rows = await self._stage_and_run(
            user_id, list(last_of_phone.values()), _UPSERT, keep_ids=False
        )
        id_of_phone = {row["phone"]: row["id"] for row in rows}
        created = sum(1 for row in rows if row["created"])
        return UpsertResult(
            created=created,
            updated=len(contacts) - created,
            ids=[id_of_phone[contact.phone] for contact in contacts],
        )

    async def insert_keeping_ids(self, user_id: str, contacts: Sequence[Contact]) -> None:
        """Contacts with their ids already given; a phone or id already there is kept."""
        if contacts:
            await self._stage_and_run(user_id, contacts, _INSERT_KEEPING_IDS, keep_ids=True)

    async def _stage_and_run(
        self, user_id: str, contacts: Sequence[Contact], statement: str, *, keep_ids: bool
    ) -> list[asyncpg.Record]:
        records = [
            (
                index,
                contact.id if keep_ids else new_contact_id(),
                contact.phone,
                contact.name,
                orjson.dumps(contact.vars).decode(),
            )
            for index, contact in enumerate(contacts)
        ]
        async with self._database.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id
            )
            await connection.execute(_STAGING)
            await connection.copy_records_to_table(
                "contacts_in", records=records, columns=_STAGING_COLUMNS
            )
            return await connection.fetch(statement, user_id)

    async def get_many(self, user_id: str, contact_ids: Sequence[str]) -> list[Contact | None]:
        """The user's contacts with these ids, in that order; None where there is none."""
        if not contact_ids:
            return []
        rows = await self._database.fetch(
            f"SELECT {_COLUMNS} FROM contacts WHERE owner_id = $1 AND id = ANY($2::text[])",
            user_id,
            list(contact_ids),
        )
        found = {row["id"]: _contact(row) for row in rows}
        return [found.get(contact_id) for contact_id in contact_ids]

    async def page(
        self, user_id: str, offset: int, limit: int, search: str | None = None
    ) -> tuple[list[Contact], int]:
        """Contacts in the order they were first added, and how many there are in all;
        with ``search``, those whose phone starts with it (a leading + optional) or whose
        name contains it, in any case. The name match reads every contact of the owner:
        fine for the lists people keep by hand, a trigram index's job past a million."""
        where, args = "owner_id = $1", [user_id]
        if search:
            text = _like_escaped(search.strip())
            digits = _like_escaped(search.strip().lstrip("+").replace(" ", ""))
            args += [f"+{digits}%", f"%{text}%"]
            where += " AND (phone LIKE $2 OR name ILIKE $3)"
        async with self._database.acquire() as connection:
            rows = await connection.fetch(
                f"SELECT {_COLUMNS} FROM contacts WHERE {where}"
                f" ORDER BY position LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
                *args,
                limit,
                offset,
            )
            total = await connection.fetchval(f"SELECT count(*) FROM contacts WHERE {where}", *args)
        return [_contact(row) for row in rows], int(total)


def _like_escaped(text: str) -> str:
    """``text`` matched as it is inside a LIKE pattern (\\ is the default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def move_contacts_from_redis(redis: Redis, keys: Keys, store: ContactStore) -> int:
    """Contacts that earlier versions kept in Redis (``contacts:{user}:data`` hash of id
    -> JSON, ``:order`` sorted set, ``:phones`` and ``:seq``) move to PostgreSQL with their
    ids and order, then leave Redis. Idempotent: api workers starting together may each
    run it, and a move cut short is finished by the next start."""
    moved = 0
    prefix, suffix = keys("contacts", ""), ":data"
    async for raw_key in redis.scan_iter(match=f"{prefix}*{suffix}", count=1_000):
        user_id = raw_key.decode()[len(prefix) : -len(suffix)]
        parts = {part: keys("contacts", user_id, part) for part in ("data", "phones", "order")}
        ordered = [i.decode() for i in await redis.zrange(parts["order"], 0, -1)]
        stored = await redis.hgetall(parts["data"])
        contacts = []
        for contact_id in ordered:
            raw = stored.get(contact_id.encode())
            if raw is None:
                continue
            body = orjson.loads(raw)
            contacts.append(
                Contact(body["phone"], body.get("name"), body.get("vars") or {}, contact_id)
            )
        await store.insert_keeping_ids(user_id, contacts)
        await redis.delete(*parts.values(), keys("contacts", user_id, "seq"))
        moved += len(contacts)
    return moved
