"""Records that earlier versions kept in Redis move to PostgreSQL when the api starts.

Tokens are one hash, read at every start (one round trip). Contacts and audiences
are found by scanning the keyspace, which costs seconds on a large Redis: that scan
runs until it has once finished, then ``moves_from_redis`` says so and no start runs
it again. Each move is idempotent, so api workers starting together may each run it.
"""

from __future__ import annotations

import logging

import asyncpg
from redis.asyncio import Redis

from services.api.auth import move_tokens_from_redis
from services.api.contacts_store import ContactStore, move_contacts_from_redis
from shared.redis import Keys
from shared.store.recipients import RecipientStore, move_audiences_from_redis

log = logging.getLogger(__name__)

SCANNED_MOVES = "contacts-and-audiences"


async def move_records_from_redis(
    redis: Redis,
    keys: Keys,
    database: asyncpg.Pool,
    contacts: ContactStore,
    recipients: RecipientStore,
) -> None:
    tokens = await move_tokens_from_redis(redis, keys, database)
    done = await database.fetchval("SELECT 1 FROM moves_from_redis WHERE name = $1", SCANNED_MOVES)
    moved_contacts = moved_recipients = 0
    if not done:
        moved_contacts = await move_contacts_from_redis(redis, keys, contacts)
        moved_recipients = await move_audiences_from_redis(redis, keys, recipients)
        await database.execute(
            "INSERT INTO moves_from_redis (name) VALUES ($1) ON CONFLICT DO NOTHING",
            SCANNED_MOVES,
        )
    if tokens or moved_contacts or moved_recipients:
        log.info(
            "records moved from Redis to PostgreSQL",
            extra={"tokens": tokens, "contacts": moved_contacts, "recipients": moved_recipients},
        )
