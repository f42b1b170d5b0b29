"""Bearer tokens and their roles: static ones from API_TOKENS and issued ones in Redis.

Redis holds only the SHA-256 of an issued token (hash ``api_tokens``: digest -> JSON
``{"user", "role", "created_ms", "expires_ms"}``), so a copy of the database does not
hand out working tokens. An entry written before roles existed holds the bare user id:
it reads as a marketer's token that does not expire.

A token is known afterwards by its id, the first hex digits of its digest: enough to
list and revoke it, useless to authenticate with.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

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


def _issued(digest: str, raw: bytes) -> TokenRecord:
    if not raw.startswith(b"{"):  # written before roles: the bare user id
        return TokenRecord(digest[:TOKEN_ID_CHARS], raw.decode(), DEFAULT_ROLE, "issued")
    entry = orjson.loads(raw)
    role = entry.get("role", DEFAULT_ROLE)
    return TokenRecord(
        id=digest[:TOKEN_ID_CHARS],
        user=entry["user"],
        role=role if role in ROLES else DEFAULT_ROLE,
        source="issued",
        created_at=_from_ms(entry.get("created_ms")),
        expires_at=_from_ms(entry.get("expires_ms")),
    )


class TokenRegistry:
    """Finds the user (and role) a bearer token belongs to; issues, lists and revokes."""

    def __init__(
        self, redis: Redis, keys: Keys, static_tokens: dict[str, tuple[str, Role]]
    ) -> None:
        self._redis = redis
        self._key = keys("api_tokens")
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
        stored = await self._redis.hget(self._key, digest)
        if stored is None:
            return None
        record = _issued(digest, stored)
        if record.expired(datetime.now(UTC)):
            return None
        return User(record.user, record.role)

    async def issue(
        self, user_id: str, role: Role = DEFAULT_ROLE, expires_in_s: int | None = None
    ) -> tuple[str, TokenRecord]:
        """A new random token for ``user_id`` and its record; only its digest is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = token_digest(token)
        created_ms = int(time.time() * 1000)
        expires_ms = created_ms + expires_in_s * 1000 if expires_in_s else None
        entry = {"user": user_id, "role": role, "created_ms": created_ms}
        if expires_ms is not None:
            entry["expires_ms"] = expires_ms
        await self._redis.hset(self._key, digest, orjson.dumps(entry))
        return token, _issued(digest, orjson.dumps(entry))

    async def records(self) -> list[TokenRecord]:
        """Every token: static ones first, then issued ones, newest first."""
        static = [
            TokenRecord(digest[:TOKEN_ID_CHARS], user, role, "static")
            for digest, user, role in self._static
        ]
        stored = await self._redis.hgetall(self._key)
        issued = [_issued(digest.decode(), raw) for digest, raw in stored.items()]
        oldest = datetime.min.replace(tzinfo=UTC)
        issued.sort(key=lambda record: record.created_at or oldest, reverse=True)
        return static + issued

    async def revoke(self, token_id: str) -> TokenRecord:
        """Forget the issued token with this id; it stops authenticating at once."""
        token_id = token_id.strip().lower()
        if len(token_id) != TOKEN_ID_CHARS:
            raise TokenNotFound(token_id)
        if any(digest.startswith(token_id) for digest, _, _ in self._static):
            raise StaticTokenNotRevocable(token_id)
        stored = await self._redis.hgetall(self._key)
        for digest, raw in stored.items():
            if digest.decode().startswith(token_id):
                await self._redis.hdel(self._key, digest)
                return _issued(digest.decode(), raw)
        raise TokenNotFound(token_id)
