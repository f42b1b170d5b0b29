"""Bearer tokens: static ones from API_TOKENS and issued ones stored hashed in Redis.

Redis holds only the SHA-256 of an issued token (hash ``api_tokens``: digest -> user),
so a copy of the database does not hand out working tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis import Keys

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class User:
    id: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRegistry:
    """Finds the user a bearer token belongs to."""

    def __init__(self, redis: Redis, keys: Keys, static_tokens: dict[str, str]) -> None:
        self._redis = redis
        self._key = keys("api_tokens")
        # Digests only, compared in constant time: the plain tokens are not kept around.
        self._static = [(token_digest(token), user) for token, user in static_tokens.items()]

    async def user_for(self, token: str) -> User | None:
        if not token:
            return None
        digest = token_digest(token)
        for known, user in self._static:
            if hmac.compare_digest(known, digest):
                return User(user)
        stored = await self._redis.hget(self._key, digest)
        return User(stored.decode()) if stored is not None else None

    async def issue(self, user_id: str) -> str:
        """A new random token for ``user_id``; only its digest is stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self._redis.hset(self._key, token_digest(token), user_id)
        return token
