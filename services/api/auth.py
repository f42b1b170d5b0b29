"""Bearer tokens and their roles: static ones from API_TOKENS and issued ones in
PostgreSQL (tables ``users`` and ``api_tokens``).

Only the SHA-256 of an issued token is stored, so a copy of the database does not hand
out working tokens. A token is known afterwards by its id, the first hex digits of its
digest: enough to list and revoke it, useless to authenticate with.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import asyncpg
import orjson
from redis.asyncio import Redis

from shared.redis import Keys

TOKEN_BYTES = 32
TOKEN_ID_CHARS = 12

Role = Literal["marketer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
DEFAULT_ROLE: Role = "marketer"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    role: Role = DEFAULT_ROLE

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, owner_id: str | None) -> bool:
        """Whether a campaign of ``owner_id`` is visible: one's own; one without an owner
        (published to Kafka with no ownerId) only to admins."""
        return owner_id == self.id or (owner_id is None and self.is_admin)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is known of a token once issued: never the token itself."""

    id: str
    user: str
    role: Role
    source: Literal["issued", "static"]
    created_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class TokenNotFound(LookupError):
    pass


class StaticTokenNotRevocable(ValueError):
    pass


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _role(value: str) -> Role:
    return value if value in ROLES else DEFAULT_ROLE  # type: ignore[return-value]


def _issued(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(
        id=row["token_id"],
        user=row["user_id"],
        role=_role(row["role"]),
        source="issued",
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


_ISSUED_COLUMNS = "token_id, user_id, role, created_at, expires_at"


class TokenRegistry:
    """Finds the user (and role) a bearer token belongs to; issues, lists and revokes."""

    def __init__(self, database: asyncpg.Pool, static_tokens: dict[str, tuple[str, Role]]) -> None:
        self._database = database
        # Digests only, compared in constant time: the plain tokens are not kept around.
        self._static = [
            (token_digest(token), user, role) for token, (user, role) in static_tokens.items()
        ]

    async def user_for(self, token: str) -> User | None:
        """The token's user; None for an unknown, revoked or expired token."""
        if not token:
            return None
        digest = token_digest(token)
        for known, user, role in self._static:
            if hmac.compare_digest(known, digest):
                return User(user, role)
        row = await self._database.fetchrow(
            "SELECT user_id, role FROM api_tokens"
            " WHERE digest = $1 AND (expires_at IS NULL OR expires_at > now())",
            digest,
        )
        return None if row is None else User(row["user_id"], _role(row["role"]))

    async def issue(
        self, user_id: str, role: Role = DEFAULT_ROLE, expires_in_s: int | None = None
    ) -> tuple[str, TokenRecord]:
        """A new random token for ``user_id`` and its record; only its digest is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_in = timedelta(seconds=expires_in_s) if expires_in_s else None
        async with self._database.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user_id
            )
            row = await connection.fetchrow(
                "INSERT INTO api_tokens (digest, user_id, role, expires_at)"
                " VALUES ($1, $2, $3, now() + $4::interval)"
                f" RETURNING {_ISSUED_COLUMNS}",
                token_digest(token),
                user_id,
                role,
                expires_in,
            )
        return token, _issued(row)

    async def records(self) -> list[TokenRecord]:
        """Every token: static ones first, then issued ones, newest first."""
        static = [
            TokenRecord(digest[:TOKEN_ID_CHARS], user, role, "static")
            for digest, user, role in self._static
        ]
        rows = await self._database.fetch(
            f"SELECT {_ISSUED_COLUMNS} FROM api_tokens ORDER BY created_at DESC, token_id"
        )
        return static + [_issued(row) for row in rows]

    async def revoke(self, token_id: str) -> TokenRecord:
        """Forget the issued token with this id; it stops authenticating at once."""
        token_id = token_id.strip().lower()
        if len(token_id) != TOKEN_ID_CHARS:
            raise TokenNotFound(token_id)
        if any(digest.startswith(token_id) for digest, _, _ in self._static):
            raise StaticTokenNotRevocable(token_id)
        row = await self._database.fetchrow(
            f"DELETE FROM api_tokens WHERE token_id = $1 RETURNING {_ISSUED_COLUMNS}", token_id
        )
        if row is None:
            raise TokenNotFound(token_id)
        return _issued(row)


async def move_tokens_from_redis(redis: Redis, keys: Keys, database: asyncpg.Pool) -> int:
    """Tokens issued before PostgreSQL kept them (Redis hash ``api_tokens``: digest ->
    JSON, or a bare user id from before roles) move to the database, then leave Redis.
    Idempotent: api workers starting together may each run it."""
    key = keys("api_tokens")
    stored = await redis.hgetall(key)
    if not stored:
        return 0
    rows = []
    for raw_digest, raw in stored.items():
        if raw.startswith(b"{"):
            entry = orjson.loads(raw)
            user, role = entry["user"], _role(entry.get("role", DEFAULT_ROLE))
            created, expires = _from_ms(entry.get("created_ms")), _from_ms(entry.get("expires_ms"))
        else:  # written before roles: the bare user id
            user, role, created, expires = raw.decode(), DEFAULT_ROLE, None, None
        rows.append((raw_digest.decode(), user, role, created or datetime.now(UTC), expires))
    async with database.acquire() as connection, connection.transaction():
        await connection.executemany(
            "INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING",
            [(row[1],) for row in rows],
        )
        await connection.executemany(
            "INSERT INTO api_tokens (digest, user_id, role, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            rows,
        )
    await redis.hdel(key, *stored)
    return len(rows)
