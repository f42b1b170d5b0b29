"""Each user's lists of contacts in PostgreSQL (tables ``lists`` and ``list_members``,
migration 0006): saved audiences, filled by hand or by a CSV import, that campaigns
are sent to. A list holds contacts by id, so a contact changed later is sent as it is
then; a deleted contact leaves its lists.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

from services.api.contacts_store import Contact

# Members read per statement when a campaign is made from a list.
MEMBER_PAGE = 5_000


@dataclass(frozen=True, slots=True)
class ContactList:
    id: str
    name: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MembersAdded:
    """How many joined (a contact already on the list is not counted again), or the
    index of the first requested id that is none of the user's contacts."""

    added: int
    unknown_index: int | None = None


def new_list_id() -> str:
    return f"ls_{secrets.token_hex(10)}"


_LIST_COLUMNS = """
l.id, l.name, l.created_at,
(SELECT count(*) FROM list_members m WHERE m.owner_id = l.owner_id AND m.list_id = l.id)
    AS size
"""
_MEMBERS_AFTER = """
SELECT m.position, c.id, c.phone, c.name, c.vars
FROM list_members m
JOIN contacts c ON c.owner_id = m.owner_id AND c.id = m.contact_id
WHERE m.owner_id = $1 AND m.list_id = $2 AND m.position > $3
ORDER BY m.position
LIMIT $4
"""


def _list(row: asyncpg.Record) -> ContactList:
    return ContactList(row["id"], row["name"], int(row["size"]), row["created_at"])


def _member(row: asyncpg.Record) -> Contact:
    return Contact(
        phone=row["phone"], name=row["name"], vars=orjson.loads(row["vars"]), id=row["id"]
    )


class ListStore:
    def __init__(self, database: asyncpg.Pool) -> None:
        self._database = database

    async def create(self, user_id: str, name: str) -> ContactList | None:
        """A new empty list; None when the user has one of that name already."""
        async with self._database.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id
            )
            row = await connection.fetchrow(
                "INSERT INTO lists (owner_id, id, name) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING id, name, created_at, 0 AS size",
                user_id,
                new_list_id(),
                name,
            )
        return _list(row) if row is not None else None

    async def get(self, user_id: str, list_id: str) -> ContactList | None:
        row = await self._database.fetchrow(
            f"SELECT {_LIST_COLUMNS} FROM lists l WHERE l.owner_id = $1 AND l.id = $2",
            user_id,
            list_id,
        )
        return _list(row) if row is not None else None

    async def page(self, user_id: str, offset: int, limit: int) -> tuple[list[ContactList], int]:
        """The user's lists, newest first, and how many there are."""
        rows = await self._database.fetch(
            f"SELECT {_LIST_COLUMNS} FROM lists l WHERE l.owner_id = $1"
            " ORDER BY l.created_at DESC, l.id LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
        total = await self._database.fetchval(
            "SELECT count(*) FROM lists WHERE owner_id = $1", user_id
        )
        return [_list(row) for row in rows], int(total)

    async def delete(self, user_id: str, list_id: str) -> bool:
        """The list and its memberships (not the contacts)."""
        async with self._database.acquire() as connection, connection.transaction():
            status = await connection.execute(
                "DELETE FROM lists WHERE owner_id = $1 AND id = $2", user_id, list_id
            )
            await connection.execute(
                "DELETE FROM list_members WHERE owner_id = $1 AND list_id = $2", user_id, list_id
            )
        return status.endswith(" 1")

    async def add_members(
        self, user_id: str, list_id: str, contact_ids: Sequence[str]
    ) -> MembersAdded:
        """Add the user's contacts, in the order given, all or none: an id that is not
        one of theirs adds nothing and is reported by its index."""
        ids = list(contact_ids)
        async with self._database.acquire() as connection, connection.transaction():
            known = {
                row["id"]
                for row in await connection.fetch(
                    "SELECT id FROM contacts WHERE owner_id = $1 AND id = ANY($2::text[])",
                    user_id,
                    ids,
                )
            }
            unknown = next((i for i, contact_id in enumerate(ids) if contact_id not in known), None)
            if unknown is not None:
                return MembersAdded(0, unknown)
            added = await _insert_members(connection, user_id, list_id, ids)
        return MembersAdded(added)

    async def add_imported(self, user_id: str, list_id: str, contact_ids: Sequence[str]) -> int:
        """Add contacts the import has just written for this user (so known to be theirs,
        unchecked); returns how many joined."""
        async with self._database.acquire() as connection:
            return await _insert_members(connection, user_id, list_id, contact_ids)

    async def remove_member(self, user_id: str, list_id: str, contact_id: str) -> bool:
        status = await self._database.execute(
            "DELETE FROM list_members WHERE owner_id = $1 AND list_id = $2 AND contact_id = $3",
            user_id,
            list_id,
            contact_id,
        )
        return status.endswith(" 1")

    async def members_page(
        self, user_id: str, list_id: str, offset: int, limit: int
    ) -> list[Contact]:
        """A page of members in the order they joined, for people to read."""
        rows = await self._database.fetch(
            "SELECT c.id, c.phone, c.name, c.vars FROM list_members m"
            " JOIN contacts c ON c.owner_id = m.owner_id AND c.id = m.contact_id"
            " WHERE m.owner_id = $1 AND m.list_id = $2"
            " ORDER BY m.position LIMIT $3 OFFSET $4",
            user_id,
            list_id,
            limit,
            offset,
        )
        return [_member(row) for row in rows]

    async def members(
        self, user_id: str, list_id: str, after: int, limit: int
    ) -> tuple[list[Contact], int | None]:
        """Members in the order they joined, after the cursor ``after`` (0: from the
        start), and the cursor of the next page (None: this was the last)."""
        rows = await self._database.fetch(_MEMBERS_AFTER, user_id, list_id, after, limit)
        cursor = rows[-1]["position"] if len(rows) == limit else None
        return [_member(row) for row in rows], cursor


async def _insert_members(
    connection: asyncpg.Connection, user_id: str, list_id: str, contact_ids: Sequence[str]
) -> int:
    status = await connection.execute(
        "INSERT INTO list_members (owner_id, list_id, contact_id)"
        " SELECT $1, $2, contact_id FROM unnest($3::text[]) WITH ORDINALITY"
        " AS given(contact_id, ord) ORDER BY ord ON CONFLICT DO NOTHING",
        user_id,
        list_id,
        list(dict.fromkeys(contact_ids)),
    )
    return int(status.rsplit(" ", 1)[1])
