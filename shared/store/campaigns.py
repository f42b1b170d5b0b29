"""Campaign definitions in Redis: written by the api, read by the pipeline (their
audiences are PostgreSQL's: shared/store/recipients.py).

Layout (every key under the configured prefix):
- ``campaign:{id}``            hash: the fields of :class:`CampaignRecord`
- ``campaigns:owner:{owner}``  sorted set: campaign ids by creation time (ms)
- ``schedules``                sorted set: scheduled campaign ids by due time (ms)
- ``campaigns:active``         set: ids of campaigns started or scheduled through the api
                               that may still have work; readers drop finished ones lazily
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.events.models import (
    CampaignStarted,
    MessageContent,
    Priority,
    SendWindow,
    StoredAudience,
)
from shared.lifecycle import DRAFT, CampaignStatus
from shared.redis import Keys

_CONTENT = TypeAdapter(MessageContent)

# KEYS: campaign hash. ARGV: new status, then allowed current statuses, '--', then
# field/value pairs to set with it. Returns {1, old} when moved, {0, current} when not
# (current is '' for a missing campaign).
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then
  return {0, ''}
end
local i = 2
local allowed = false
while ARGV[i] ~= '--' do
  if ARGV[i] == current then
    allowed = true
  end
  i = i + 1
end
if not allowed then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
i = i + 1
while ARGV[i] do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return {1, current}
"""


class CampaignRecord(BaseModel):
    id: str
    owner_id: str | None = None
    name: str | None = None
    status: CampaignStatus = DRAFT
    priority: Priority = "normal"
    content: MessageContent
    from_number: str | None = None
    messaging_service_sid: str | None = None
    send_window: SendWindow | None = None
    total: int = 0
    job_id: str | None = None
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # While the sender's messaging tier is used up: when it has room again (epoch ms).
    throttled_until_ms: int | None = None
    # Why a campaign is failed: set by the dispatcher when it gave up on it.
    failure_reason: str | None = None

    def to_hash(self) -> dict[str, str]:
        fields = self.model_dump(mode="json", exclude={"content", "send_window"})
        flat = {name: "" if value is None else str(value) for name, value in fields.items()}
        flat["content"] = _CONTENT.dump_json(self.content).decode()
        flat["send_window"] = self.send_window.model_dump_json() if self.send_window else ""
        return flat

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> CampaignRecord:
        fields = {key.decode(): value.decode() for key, value in raw.items()}
        content = _CONTENT.validate_json(fields.pop("content"))
        window = fields.pop("send_window", "")
        cleaned = {name: value for name, value in fields.items() if value != "" and name in _FIELDS}
        send_window = SendWindow.model_validate_json(window) if window else None
        return cls(content=content, send_window=send_window, **cleaned)


_FIELDS = frozenset(CampaignRecord.model_fields)


class CampaignStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._transition = redis.register_script(_TRANSITION)

    def campaign_key(self, campaign_id: str) -> str:
        return self._keys("campaign", campaign_id)

    async def save(self, record: CampaignRecord) -> None:
        """Create or replace a campaign's definition (not its audience). A new campaign's
        first status is written here; any later change is a :meth:`transition`."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.campaign_key(record.id), mapping=record.to_hash())
            if record.owner_id is not None and record.created_at is not None:
                created_ms = int(record.created_at.timestamp() * 1000)
                pipe.zadd(
                    self._keys("campaigns", "owner", record.owner_id), {record.id: created_ms}
                )
            await pipe.execute()

    async def get(self, campaign_id: str) -> CampaignRecord | None:
        raw = await self._redis.hgetall(self.campaign_key(campaign_id))
        return CampaignRecord.from_hash(raw) if raw else None

    def pipeline(self) -> Pipeline:
        """A non-transactional pipeline on this store's Redis, for reads of several stores
        in one round trip (each store queues its reads and parses its replies)."""
        return self._redis.pipeline(transaction=False)

    def queue_get(self, pipe: Redis, campaign_id: str) -> None:
        """Queue :meth:`get`'s read on a pipeline; :meth:`parse_get` reads its reply."""
        pipe.hgetall(self.campaign_key(campaign_id))

    @staticmethod
    def parse_get(raw: dict[bytes, bytes]) -> CampaignRecord | None:
        return CampaignRecord.from_hash(raw) if raw else None

    async def exists(self, campaign_id: str) -> bool:
        return bool(await self._redis.exists(self.campaign_key(campaign_id)))

    async def set_fields(self, campaign_id: str, **fields: str) -> None:
        """Set fields other than ``status``: a status is only written by the atomic
        :meth:`transition` (shared/lifecycle.py), which checks the status it leaves."""
        if "status" in fields:
            raise ValueError("a campaign's status changes only through transition()")
        await self._redis.hset(self.campaign_key(campaign_id), mapping=fields)

    async def status(self, campaign_id: str) -> str | None:
        value = await self._redis.hget(self.campaign_key(campaign_id), "status")
        return value.decode() if value is not None else None

    async def list_for_owner(self, owner_id: str, offset: int, limit: int) -> tuple[list[str], int]:
        """Campaign ids of one owner, newest first, and how many there are in all."""
        key = self._keys("campaigns", "owner", owner_id)
        ids = await self._redis.zrevrange(key, offset, offset + limit - 1)
        return [i.decode() for i in ids], await self._redis.zcard(key)

    async def schedule(self, campaign_id: str, due: datetime) -> None:
        await self._redis.zadd(self._keys("schedules"), {campaign_id: due.timestamp() * 1000})

    async def due_schedules(self, now: datetime, limit: int = 100) -> list[str]:
        due = await self._redis.zrangebyscore(
            self._keys("schedules"), "-inf", now.timestamp() * 1000, start=0, num=limit
        )
        return [campaign_id.decode() for campaign_id in due]

    async def unschedule(self, campaign_id: str) -> bool:
        """True for the one caller that removes it: the one that starts the campaign."""
        return bool(await self._redis.zrem(self._keys("schedules"), campaign_id))

    async def get_many(self, campaign_ids: Sequence[str]) -> list[CampaignRecord | None]:
        """Several campaigns in one round trip, in the order asked; None for a missing one."""
        if not campaign_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                pipe.hgetall(self.campaign_key(campaign_id))
            raws = await pipe.execute()
        return [CampaignRecord.from_hash(raw) if raw else None for raw in raws]

    async def transition(
        self, campaign_id: str, allowed: Iterable[str], status: str, **fields: str
    ) -> tuple[bool, str | None]:
        """Set ``status`` (and ``fields``) only if the current status is one of ``allowed``.

        Which moves are allowed is shared/lifecycle.py's to say (``move`` wraps this).
        Atomic, so two concurrent starts cannot both win. Returns whether it moved and
        the status it found (None for a missing campaign).
        """
        pairs = [item for name, value in fields.items() for item in (name, value)]
        moved, found = await self._transition(
            keys=[self.campaign_key(campaign_id)], args=[status, *allowed, "--", *pairs]
        )
        found_text = found.decode() if isinstance(found, bytes) else str(found)
        return bool(moved), found_text or None

    async def next_retry_number(self, campaign_id: str) -> int:
        return int(await self._redis.hincrby(self.campaign_key(campaign_id), "retry_runs", 1))

    async def owner_ids(self, owner_id: str) -> list[str]:
        """Every campaign id of one owner, newest first."""
        key = self._keys("campaigns", "owner", owner_id)
        return [i.decode() for i in await self._redis.zrevrange(key, 0, -1)]

    async def mark_active(self, campaign_id: str) -> None:
        await self._redis.sadd(self._keys("campaigns", "active"), campaign_id)

    async def mark_inactive(self, *campaign_ids: str) -> None:
        if campaign_ids:
            await self._redis.srem(self._keys("campaigns", "active"), *campaign_ids)

    async def active_ids(self) -> list[str]:
        """Ids in the active set; it may still hold finished campaigns (see the layout)."""
        return sorted(
            i.decode() for i in await self._redis.smembers(self._keys("campaigns", "active"))
        )


def started_event(record: CampaignRecord, audience_size: int) -> CampaignStarted:
    """The CampaignStarted event that runs a stored campaign (from the api or a schedule)."""
    return CampaignStarted(
        campaign_id=record.id,
        job_id=record.job_id or f"campaign_{record.id}",
        owner_id=record.owner_id,
        name=record.name,
        content=record.content,
        audience=StoredAudience(size=audience_size),
        priority=record.priority,
        from_number=record.from_number,
        expires_at=record.expires_at,
        messaging_service_sid=record.messaging_service_sid,
        send_window=record.send_window,
    )
