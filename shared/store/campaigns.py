"""Campaign definitions, owner and status in PostgreSQL (table ``campaigns``, every change
of status in ``campaign_status_history``, migration 0005); their audiences are
shared/store/recipients.py's.

A status changes only through :meth:`CampaignStore.transition`: the row is locked, its
status checked against the allowed ones and moved, and the change logged, in one
transaction, so two writers racing cannot both win. After the commit the new status is
copied to Redis (shared/store/campaign_status.py) for the readers that ask it per tick
or per message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from shared.database.pool import PoolSource, pool_source
from shared.events.models import (
    CampaignStarted,
    MessageContent,
    Priority,
    SendWindow,
    StoredAudience,
)
from shared.lifecycle import DRAFT, CampaignStatus
from shared.redis import Keys
from shared.store.campaign_status import StatusCache

log = logging.getLogger(__name__)

CONTENT = TypeAdapter(MessageContent)


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


_COLUMNS = list(CampaignRecord.model_fields)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM campaigns"
_SELECT_VERSIONED = f"SELECT {', '.join(_COLUMNS)}, status_version FROM campaigns"
_SELECT_ACTIVE = f"SELECT {', '.join(_COLUMNS)}, active FROM campaigns"
_CREATE = f"""
INSERT INTO campaigns ({", ".join(_COLUMNS)}, status_version, active, start_due_at)
VALUES ({", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 4))})
ON CONFLICT (id) DO NOTHING
"""
_LOG_STATUS = """
INSERT INTO campaign_status_history (campaign_id, version, status, previous)
VALUES ($1, $2, $3, $4)
"""


def _text(value: str) -> str | None:
    return value or None


def _integer(value: str) -> int | None:
    return int(value) if value else None


def _moment(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# What a move may set beside the status, and how its text is read ('' is none).
_MOVE_FIELDS = {
    "job_id": _text,
    "total": _integer,
    "started_at": _moment,
    "finished_at": _moment,
    "scheduled_at": _moment,
    "throttled_until_ms": _integer,
    "failure_reason": _text,
}


def _row_values(record: CampaignRecord) -> list[Any]:
    values = record.model_dump(exclude={"content", "send_window"})
    values["content"] = CONTENT.dump_json(record.content).decode()
    values["send_window"] = record.send_window.model_dump_json() if record.send_window else None
    return [values[column] for column in _COLUMNS]


def _record(row: asyncpg.Record) -> CampaignRecord:
    fields = {column: row[column] for column in _COLUMNS if row[column] is not None}
    fields["content"] = CONTENT.validate_json(row["content"])
    if row["send_window"] is not None:
        fields["send_window"] = SendWindow.model_validate_json(row["send_window"])
    return CampaignRecord(**fields)


class StatusHistoryEntry(BaseModel):
    version: int
    status: str
    previous: str | None
    at: datetime


class CampaignStore:
    def __init__(self, pool: asyncpg.Pool | PoolSource, redis: Redis, keys: Keys) -> None:
        self._pool = pool_source(pool)
        self._redis = redis
        self.status_cache = StatusCache(redis, keys)

    async def create(
        self, record: CampaignRecord, *, active: bool = False, start_due: datetime | None = None
    ) -> bool:
        """Store a new campaign (not its audience) with its first status; False, and
        nothing changed, when one with its id exists. ``active``: started or scheduled
        (see :meth:`active_ids`); ``start_due``: when the schedule poller starts it."""
        async with self._pool().acquire() as connection, connection.transaction():
            status = await connection.execute(_CREATE, *_row_values(record), 1, active, start_due)
            created = status.endswith(" 1")
            if created:
                await connection.execute(_LOG_STATUS, record.id, 1, record.status, None)
        if created:
            await self._copy_status(record.id, 1, record.status)
        return created

    async def get(self, campaign_id: str) -> CampaignRecord | None:
        row = await self._pool().fetchrow(f"{_SELECT} WHERE id = $1", campaign_id)
        return _record(row) if row is not None else None

    async def get_versioned(self, campaign_id: str) -> tuple[CampaignRecord, int] | None:
        """The record and its status version (the one its Redis status copy carries)."""
        row = await self._pool().fetchrow(f"{_SELECT_VERSIONED} WHERE id = $1", campaign_id)
        return (_record(row), int(row["status_version"])) if row is not None else None

    async def get_many(self, campaign_ids: Sequence[str]) -> list[CampaignRecord | None]:
        """Several campaigns in one query, in the order asked; None for a missing one."""
        if not campaign_ids:
            return []
        rows = await self._pool().fetch(f"{_SELECT} WHERE id = ANY($1::text[])", campaign_ids)
        found = {row["id"]: _record(row) for row in rows}
        return [found.get(campaign_id) for campaign_id in campaign_ids]

    def pipeline(self) -> Pipeline:
        """A non-transactional pipeline on this store's Redis, for reads of the stores
        that live there in one round trip (each store queues its reads and parses them)."""
        return self._redis.pipeline(transaction=False)

    async def status(self, campaign_id: str) -> str | None:
        """The status from its Redis copy; from the row (and copied again) when the copy
        is missing. None for a campaign that does not exist."""
        cached = await self.status_cache.read(campaign_id)
        if cached is not None:
            return cached
        row = await self._pool().fetchrow(
            "SELECT status, status_version FROM campaigns WHERE id = $1", campaign_id
        )
        if row is None:
            return None
        await self._copy_status(campaign_id, row["status_version"], row["status"])
        return str(row["status"])

    async def refresh_status_copies(self, campaign_ids: Sequence[str]) -> None:
        """Copy the statuses of these campaigns and of the active ones to Redis again
        where the copy is missing or behind: a Redis failover may have lost the last
        writes, and the senders read only the copy."""
        rows = await self._pool().fetch(
            "SELECT id, status_version, status FROM campaigns WHERE active OR id = ANY($1::text[])",
            list(campaign_ids),
        )
        await self.status_cache.write_many(
            [(row["id"], row["status_version"], row["status"]) for row in rows]
        )

    async def list_for_owner(
        self, owner_id: str, offset: int, limit: int
    ) -> tuple[list[CampaignRecord], int]:
        """One owner's campaigns, newest first, and how many there are in all."""
        pool = self._pool()
        rows = await pool.fetch(
            f"{_SELECT} WHERE owner_id = $1 ORDER BY created_at DESC NULLS LAST, id"
            " OFFSET $2 LIMIT $3",
            owner_id,
            offset,
            limit,
        )
        total = await pool.fetchval("SELECT count(*) FROM campaigns WHERE owner_id = $1", owner_id)
        return [_record(row) for row in rows], int(total)

    async def owned_or_active(self, owner_id: str) -> list[tuple[CampaignRecord, bool]]:
        """One owner's campaigns and every active one (see :meth:`active_ids`), each with
        whether it is active, in one query: what a dashboard sums."""
        rows = await self._pool().fetch(
            f"{_SELECT_ACTIVE} WHERE owner_id = $1 OR active"
            " ORDER BY created_at DESC NULLS LAST, id",
            owner_id,
        )
        return [(_record(row), bool(row["active"])) for row in rows]

    async def schedule(self, campaign_id: str, due: datetime) -> None:
        await self._pool().execute(
            "UPDATE campaigns SET start_due_at = $2, active = true WHERE id = $1",
            campaign_id,
            due,
        )

    async def due_schedules(self, now: datetime, limit: int = 100) -> list[str]:
        rows = await self._pool().fetch(
            "SELECT id FROM campaigns WHERE start_due_at <= $1 ORDER BY start_due_at LIMIT $2",
            now,
            limit,
        )
        return [row["id"] for row in rows]

    async def unschedule(self, campaign_id: str) -> bool:
        """True for the one caller that removes it: the one that starts the campaign."""
        status = await self._pool().execute(
            "UPDATE campaigns SET start_due_at = NULL WHERE id = $1 AND start_due_at IS NOT NULL",
            campaign_id,
        )
        return status.endswith(" 1")

    async def transition(
        self, campaign_id: str, allowed: Iterable[str], status: str, **fields: str
    ) -> tuple[bool, str | None]:
        """Set ``status`` (and ``fields``, text as the lifecycle passes them, '' for none)
        only if the current status is one of ``allowed``.

        Which moves are allowed is shared/lifecycle.py's to say (``move`` wraps this).
        The row is locked while it is checked, so two concurrent starts cannot both win.
        Returns whether it moved and the status it found (None for a missing campaign).
        """
        unknown = set(fields) - set(_MOVE_FIELDS)
        if unknown:
            raise ValueError(f"a move cannot set {sorted(unknown)}")
        names = list(fields)
        values = [_MOVE_FIELDS[name](fields[name]) for name in names]
        assignments = "".join(f", {name} = ${i}" for i, name in enumerate(names, start=3))
        async with self._pool().acquire() as connection, connection.transaction():
            found = await connection.fetchval(
                "SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id
            )
            if found is None or found not in allowed:
                return False, found
            version = await connection.fetchval(
                "UPDATE campaigns SET status = $2, status_version = status_version + 1"
                f"{assignments} WHERE id = $1 RETURNING status_version",
                campaign_id,
                status,
                *values,
            )
            await connection.execute(_LOG_STATUS, campaign_id, version, status, found)
        await self._copy_status(campaign_id, version, status)
        return True, found

    async def history(self, campaign_id: str) -> list[StatusHistoryEntry]:
        """Every status the campaign had, oldest first."""
        rows = await self._pool().fetch(
            "SELECT version, status, previous, at FROM campaign_status_history"
            " WHERE campaign_id = $1 ORDER BY version",
            campaign_id,
        )
        return [StatusHistoryEntry(**dict(row)) for row in rows]

    async def next_retry_number(self, campaign_id: str) -> int:
        return int(
            await self._pool().fetchval(
                "UPDATE campaigns SET retry_runs = retry_runs + 1 WHERE id = $1"
                " RETURNING retry_runs",
                campaign_id,
            )
        )

    async def mark_active(self, campaign_id: str) -> None:
        await self._pool().execute("UPDATE campaigns SET active = true WHERE id = $1", campaign_id)

    async def mark_inactive(self, *campaign_ids: str) -> None:
        if campaign_ids:
            await self._pool().execute(
                "UPDATE campaigns SET active = false WHERE id = ANY($1::text[])",
                list(campaign_ids),
            )

    async def active_ids(self) -> list[str]:
        """Campaigns started or scheduled that may still have work; it may still hold
        finished ones, which readers clear with :meth:`mark_inactive`."""
        rows = await self._pool().fetch("SELECT id FROM campaigns WHERE active ORDER BY id")
        return [row["id"] for row in rows]

    async def _copy_status(self, campaign_id: str, version: int, status: str) -> None:
        try:
            await self.status_cache.write(campaign_id, version, status)
        except (RedisError, OSError) as error:
            # The row has moved, which is what counts: the copy is written again by the
            # next reader that misses it, or by the pacer's refresh.
            log.warning(
                "campaign status not copied to Redis",
                extra={"campaign_id": campaign_id, "status": status, "reason": repr(error)},
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
