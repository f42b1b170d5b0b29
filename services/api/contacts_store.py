"""Each user's contacts in Redis, upserted by phone number.

Layout (under the configured prefix):
- ``contacts:{user}:data``    hash: contact id -> JSON ``{phone, name, vars}``
- ``contacts:{user}:phones``  hash: E.164 phone -> contact id (a phone is one contact)
- ``contacts:{user}:order``   sorted set: contact ids by insertion sequence
- ``contacts:{user}:seq``     counter behind that sequence
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis

from shared.redis import Keys

# KEYS: data, phones, order, seq. ARGV: (phone, new id, json) triples.
# Atomic per call, so two imports of the same phone never make two contacts.
# Returns {created, updated, id of each triple in order...}.
_UPSERT = """
local data, phones, order, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local created, updated = 0, 0
local ids = {}
for i = 1, #ARGV, 3 do
  local phone, new_id, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local id = redis.call('HGET', phones, phone)
  if id then
    updated = updated + 1
  else
    id = new_id
    redis.call('HSET', phones, phone, id)
    redis.call('ZADD', order, redis.call('INCR', seq), id)
    created = created + 1
  end
  redis.call('HSET', data, id, body)
  ids[#ids + 1] = id
end
return {created, updated, unpack(ids)}
"""


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    id: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps({"phone": self.phone, "name": self.name, "vars": self.vars})

    @classmethod
    def from_json(cls, contact_id: str, raw: bytes) -> Contact:
        body = orjson.loads(raw)
        return cls(
            phone=body["phone"], name=body.get("name"), vars=body.get("vars") or {}, id=contact_id
        )


@dataclass(frozen=True, slots=True)
class UpsertResult:
    created: int
    updated: int
    ids: list[str]


def new_contact_id() -> str:
    return f"ct_{secrets.token_hex(10)}"


class ContactStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._upsert = redis.register_script(_UPSERT)

    def _key(self, user_id: str, part: str) -> str:
        return self._keys("contacts", user_id, part)

    async def upsert(self, user_id: str, contacts: Sequence[Contact]) -> UpsertResult:
        """Create or update contacts (phones already normalised) in one round trip."""
        if not contacts:
            return UpsertResult(0, 0, [])
        args: list[str | bytes] = []
        for contact in contacts:
            args.extend((contact.phone, new_contact_id(), contact.to_json()))
        created, updated, *ids = await self._upsert(
            keys=[self._key(user_id, part) for part in ("data", "phones", "order", "seq")],
            args=args,
        )
        return UpsertResult(int(created), int(updated), [i.decode() for i in ids])

    async def get_many(self, user_id: str, contact_ids: Sequence[str]) -> list[Contact | None]:
        if not contact_ids:
            return []
        raws = await self._redis.hmget(self._key(user_id, "data"), list(contact_ids))
        return [
            Contact.from_json(contact_id, raw) if raw is not None else None
            for contact_id, raw in zip(contact_ids, raws, strict=True)
        ]

    async def page(self, user_id: str, offset: int, limit: int) -> tuple[list[Contact], int]:
        """Contacts in the order they were first added, and how many there are in all."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self._key(user_id, "order"), offset, offset + limit - 1)
            pipe.zcard(self._key(user_id, "order"))
            raw_ids, total = await pipe.execute()
        ids = [i.decode() for i in raw_ids]
        found = await self.get_many(user_id, ids)
        return [contact for contact in found if contact is not None], int(total)
