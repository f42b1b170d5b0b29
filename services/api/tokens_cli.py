"""``python -m services.api create-token | list-tokens | revoke-token``: bearer tokens.

A token is printed once, when issued; afterwards it is known by its id (the first hex
digits of its SHA-256), which is what list-tokens shows and revoke-token takes.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from services.api.auth import (
    DEFAULT_ROLE,
    Role,
    StaticTokenNotRevocable,
    TokenNotFound,
    TokenRecord,
    TokenRegistry,
)
from services.api.settings import ApiSettings
from shared.database.pool import open_pool

T = TypeVar("T")
DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parse_duration(text: str) -> int:
    """``30d``, ``12h``, ``90m`` or ``3600s`` in seconds; ValueError otherwise."""
    match = DURATION.match(text)
    if match is None or int(match[1]) <= 0:
        raise ValueError(f"expected a duration such as 30d, 12h, 90m or 3600s, got {text!r}")
    return int(match[1]) * UNIT_S[match[2]]


async def _with_registry(settings: ApiSettings, use: Callable[[TokenRegistry], Awaitable[T]]) -> T:
    database = await open_pool(settings)
    try:
        return await use(TokenRegistry(database, settings.static_tokens))
    finally:
        await database.close()


async def create_token(
    settings: ApiSettings,
    user_id: str,
    role: Role = DEFAULT_ROLE,
    expires_in_s: int | None = None,
) -> str:
    """A new token for ``user_id``; PostgreSQL keeps only its SHA-256."""
    token, _ = await _with_registry(
        settings, lambda registry: registry.issue(user_id, role, expires_in_s)
    )
    return token


def run_create_token(
    settings: ApiSettings, user_id: str, role: Role = DEFAULT_ROLE, expires_in: str | None = None
) -> None:
    try:
        expires_in_s = parse_duration(expires_in) if expires_in else None
    except ValueError as error:
        sys.exit(f"--expires-in: {error}")
    token = asyncio.run(create_token(settings, user_id, role, expires_in_s))
    # The one time the token is shown: stdout, so it can be captured by a script.
    print(token)


def describe(record: TokenRecord, now: datetime) -> str:
    def when(moment: datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else "-"

    state = "expired" if record.expired(now) else "active"
    return "\t".join(
        [
            record.id,
            record.user,
            record.role,
            record.source,
            when(record.created_at),
            when(record.expires_at),
            state,
        ]
    )


def run_list_tokens(settings: ApiSettings) -> None:
    records = asyncio.run(_with_registry(settings, lambda registry: registry.records()))
    now = datetime.now(UTC)
    print("id\tuser\trole\tsource\tcreated\texpires\tstate")
    for record in records:
        print(describe(record, now))


def run_revoke_token(settings: ApiSettings, token_id: str) -> None:
    try:
        record = asyncio.run(_with_registry(settings, lambda registry: registry.revoke(token_id)))
    except TokenNotFound:
        sys.exit(f"no issued token has the id {token_id!r} (see list-tokens)")
    except StaticTokenNotRevocable:
        sys.exit(f"token {token_id} comes from API_TOKENS: remove it there and restart")
    print(f"revoked {record.id} ({record.user}, {record.role})")
