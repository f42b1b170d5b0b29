"""``python -m services.api create-token <user>``: issue a bearer token for a user."""

from __future__ import annotations

import asyncio

from services.api.auth import TokenRegistry
from services.api.settings import ApiSettings
from shared.redis import Keys, make_redis


async def create_token(settings: ApiSettings, user_id: str) -> str:
    """A new token for ``user_id``; Redis keeps only its SHA-256."""
    redis = make_redis(settings)
    try:
        registry = TokenRegistry(redis, Keys(settings.redis_key_prefix), {})
        return await registry.issue(user_id)
    finally:
        await redis.aclose()


def run_create_token(settings: ApiSettings, user_id: str) -> None:
    token = asyncio.run(create_token(settings, user_id))
    # The one time the token is shown: stdout, so it can be captured by a script.
    print(token)
