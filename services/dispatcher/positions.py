"""Duplicate checks of an audience: the first position that claims a contact id or a phone
keeps it, and a later entry with the same one is skipped as a duplicate.

The claims live in Redis, so a batch emitted again after a crash finds its own
positions and is not taken for a duplicate of itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from shared.events.models import Recipient
from shared.phones import normalise_phone
from shared.redis import Keys


async def claim_positions(
    redis: Redis,
    keys: Keys,
    campaign_id: str,
    start: int,
    recipients: Sequence[Recipient],
    *,
    normalise: bool,
) -> list[tuple[str | None, bool, bool]]:
    """For each recipient: its E.164 phone (None if invalid), and whether an earlier
    audience position already holds its contact id or its phone."""
    phones = [
        normalise_phone(r.phone) if normalise else r.phone for r in recipients
    ]  # stored audiences were normalised by the api
    contacts_key = keys("campaign", campaign_id, "positions", "contacts")
    phones_key = keys("campaign", campaign_id, "positions", "phones")
    async with redis.pipeline(transaction=False) as pipe:
        for offset, recipient in enumerate(recipients):
            position = start + offset
            pipe.hsetnx(contacts_key, recipient.contact_id, position)
            pipe.hget(contacts_key, recipient.contact_id)
            if phones[offset] is not None:
                pipe.hsetnx(phones_key, phones[offset], position)
                pipe.hget(phones_key, phones[offset])
        replies = iter(await pipe.execute())
    claims = []
    for offset in range(len(recipients)):
        position = start + offset
        next(replies)
        duplicate_contact = int(next(replies)) != position
        duplicate_phone = False
        if phones[offset] is not None:
            next(replies)
            duplicate_phone = int(next(replies)) != position
        claims.append((phones[offset], duplicate_contact, duplicate_phone))
    return claims
