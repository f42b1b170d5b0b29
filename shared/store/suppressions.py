"""Numbers that opted out, per Twilio account: nobody on the list gets a campaign message.

Layout (under the prefix), per account SID:
- ``suppressions:{account}``          sorted set: E.164 number -> when added (ms); it
                                      answers membership for a whole batch in one
                                      ZMSCORE and pages newest first
- ``suppressions:{account}:details``  hash: number -> {"reason", "added_ms"} as JSON
- ``suppressions:{account}:audit``    list: every change, newest first, as JSON
                                      {"at_ms", "action", "phone", "reason", "actor"}

Each change and its audit entry are written in one transaction, under WATCH of the
details, so a removal that depends on the entry's reason decides on what it removes.
The interface (add, remove, get, page, audit_page, suppressed_among) is all a store
needs to offer; a PostgreSQL one can replace this.

Numbers are E.164 without the ``whatsapp:`` prefix: an opt-out covers the person,
whatever the channel the STOP came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared.phones import WHATSAPP_PREFIX
from shared.redis import Keys

Reason = str  # "inbound_stop", "error_21610", "api", ...
# Who made a change: a user id, "recipient" (STOP/START replies) or "twilio" (its errors).
Actor = str
INBOUND_STOP: Reason = "inbound_stop"


@dataclass(frozen=True, slots=True)
class Suppression:
    phone: str
    reason: Reason
    added_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    action: str  # "added" or "removed"
    phone: str
    reason: Reason  # the suppression's reason, for a removal the one it had
    actor: Actor


@dataclass(frozen=True, slots=True)
class Removal:
    """What a removal found: the entry's reason (None: not on the list) and whether it
    was lifted (False when ``lifts`` refused that reason)."""

    reason: Reason | None
    removed: bool


def _bare(phone: str) -> str:
    return phone.strip().removeprefix(WHATSAPP_PREFIX)


class SuppressionStore:
    def __init__(self, redis: Redis, keys: Keys, account_sid: str) -> None:
        self._redis = redis
        self._numbers = keys("suppressions", account_sid)
        self._details = keys("suppressions", account_sid, "details")
        self._audit = keys("suppressions", account_sid, "audit")

    async def add(self, phone_e164: str, reason: Reason, actor: Actor = "twilio") -> bool:
        """Suppress the number; True if it was not already. A repeat keeps the first reason
        and is not audited (nothing changed). ``actor`` defaults to Twilio, whose errors
        (error_21610...) the sender adds."""
        phone = _bare(phone_e164)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._details)
                    if await pipe.hexists(self._details, phone):
                        return False
                    added_ms = int(time.time() * 1000)
                    pipe.multi()
                    pipe.zadd(self._numbers, {phone: added_ms})
                    pipe.hset(
                        self._details,
                        phone,
                        orjson.dumps({"reason": reason, "added_ms": added_ms}),
                    )
                    pipe.lpush(self._audit, _audit_json(added_ms, "added", phone, reason, actor))
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    async def remove(
        self,
        phone_e164: str,
        actor: Actor,
        lifts: Callable[[Reason], bool] = lambda _reason: True,
    ) -> Removal:
        """Lift the suppression if ``lifts`` accepts its reason, with its audit entry."""
        phone = _bare(phone_e164)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._details)
                    raw = await pipe.hget(self._details, phone)
                    if raw is None:
                        return Removal(None, removed=False)
                    reason = orjson.loads(raw)["reason"]
                    if not lifts(reason):
                        return Removal(reason, removed=False)
                    at_ms = int(time.time() * 1000)
                    pipe.multi()
                    pipe.zrem(self._numbers, phone)
                    pipe.hdel(self._details, phone)
                    pipe.lpush(self._audit, _audit_json(at_ms, "removed", phone, reason, actor))
                    await pipe.execute()
                    return Removal(reason, removed=True)
                except WatchError:
                    continue

    async def audit_page(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        """Changes to the list, newest first, and how many there are in all."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(self._audit, offset, offset + limit - 1)
            pipe.llen(self._audit)
            raws, total = await pipe.execute()
        entries = []
        for raw in raws:
            entry = orjson.loads(raw)
            entries.append(
                AuditEntry(
                    at=_from_ms(entry["at_ms"]),
                    action=entry["action"],
                    phone=entry["phone"],
                    reason=entry["reason"],
                    actor=entry["actor"],
                )
            )
        return entries, int(total)

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


def _audit_json(at_ms: int, action: str, phone: str, reason: Reason, actor: Actor) -> bytes:
    return orjson.dumps(
        {"at_ms": at_ms, "action": action, "phone": phone, "reason": reason, "actor": actor}
    )


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
