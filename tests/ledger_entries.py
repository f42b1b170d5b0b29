"""Ledger entries written the way a sender records a sent message, for webhook tests:
the api counts a receipt only for the SID the ledger holds for its campaign and contact."""

from __future__ import annotations

import redis
from redis.asyncio import Redis

from services.sender.ledger import LedgerEntry, LedgerState
from shared.redis import Keys
from shared.send_ledger import ledger_key


def sent_entry(sid: str | None, state: LedgerState = LedgerState.SENT) -> str:
    return LedgerEntry(state=state, sid=sid, code=None, at_ms=0, replica="test").to_json()


async def record_sent(
    client: Redis, prefix: str, campaign_id: str, contact_id: str, sid: str | None
) -> None:
    await client.hset(ledger_key(Keys(prefix), campaign_id), contact_id, sent_entry(sid))


def record_sent_sync(
    redis_url: str, prefix: str, campaign_id: str, entries: dict[str, str]
) -> None:
    """Several contacts of one campaign, contact id -> sid, from a test outside the loop."""
    with redis.Redis.from_url(redis_url) as client:
        values = {contact: sent_entry(sid) for contact, sid in entries.items()}
        client.hset(ledger_key(Keys(prefix), campaign_id), mapping=values)
