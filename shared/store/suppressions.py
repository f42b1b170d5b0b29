"""Numbers that opted out, per Twilio account: nobody on the list gets a campaign message.

Layout (under the prefix), per account SID:
- ``suppressions:{account}``          sorted set: E.164 number -> when added (ms); it
                                      answers membership for a whole batch in one
                                      ZMSCORE and pages newest first
- ``suppressions:{account}:details``  hash: number -> {"reason", "added_ms"} as JSON

Numbers are E.164 without the ``whatsapp:`` prefix: an opt-out covers the person,
whatever the channel the STOP came from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis

from shared.phones import WHATSAPP_PREFIX
from shared.redis import Keys

Reason = str  # "inbound_stop", "error_21610", "api", ...


@dataclass(frozen=True, slots=True)
class Suppression:
    phone: str
    reason: Reason
    added_at: datetime


def _bare(phone: str) -> str:
    return phone.strip().removeprefix(WHATSAPP_PREFIX)


class SuppressionStore:
    def __init__(self, redis: Redis, keys: Keys, account_sid: str) -> None:
        self._redis = redis
        self._numbers = keys("suppressions", account_sid)
        self._details = keys("suppressions", account_sid, "details")

    async def add(self, phone_e164: str, reason: Reason) -> bool:
        """Suppress the number; True if it was not already. A repeat keeps the first reason."""
        phone = _bare(phone_e164)
        added_ms = int(time.time() * 1000)
        details = orjson.dumps({"reason": reason, "added_ms": added_ms})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._numbers, {phone: added_ms}, nx=True)
            pipe.hsetnx(self._details, phone, details)
            added, _ = await pipe.execute()
        return bool(added)

    async def remove(self, phone_e164: str) -> bool:
        """Lift the suppression; True if the number was on the list."""
        phone = _bare(phone_e164)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._numbers, phone)
            pipe.hdel(self._details, phone)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def suppressed_among(self, phones_e164: Sequence[str]) -> set[str]:
        """Those of the numbers on the list, as given, in one round trip."""
        if not phones_e164:
            return set()
        scores = await self._redis.zmscore(self._numbers, [_bare(p) for p in phones_e164])
        return {
            phone for phone, score in zip(phones_e164, scores, strict=True) if score is not None
        }

    async def get(self, phone_e164: str) -> Suppression | None:
        phone = _bare(phone_e164)
        raw = await self._redis.hget(self._details, phone)
        return self._entry(phone, raw) if raw is not None else None

    async def page(self, offset: int, limit: int) -> tuple[list[Suppression], int]:
        """Newest first, and how many there are in all."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(self._numbers, offset, offset + limit - 1)
            pipe.zcard(self._numbers)
            members, total = await pipe.execute()
        phones = [member.decode() for member in members]
        details = await self._redis.hmget(self._details, phones) if phones else []
        # A number removed between the two reads has no details left: it is not listed.
        entries = [
            self._entry(phone, raw)
            for phone, raw in zip(phones, details, strict=True)
            if raw is not None
        ]
        return entries, int(total)

    @staticmethod
    def _entry(phone: str, raw: bytes) -> Suppression:
        details = orjson.loads(raw)
        return Suppression(phone, details["reason"], _from_ms(details["added_ms"]))


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
