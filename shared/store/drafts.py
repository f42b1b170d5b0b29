"""Changing a campaign before it is started: its definition edited, its audience
replaced, the campaign deleted, or copied as a new draft (the api's drafts routes).

Each change is one PostgreSQL transaction that locks the campaign's row and checks its
status first, as :meth:`CampaignStore.transition` does, so an edit racing a start
cannot both win: the loser finds the status it lost to.

An edit gives the status a new version even when the status stays, and copies it to
Redis: readers that keep a record while its status copy names the version they read
(services/api/current_records.py) read the edited row again. The history logs changes
of status only, so an edit that keeps the status leaves a gap in its versions.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from shared.database.pool import PoolSource, pool_source
from shared.events.models import Recipient
from shared.store.campaigns import CampaignStore
from shared.store.recipients import freeze_on

# What an edit may set, beside the status; the values as the columns take them.
EDITABLE = frozenset(
    {
        "name",
        "priority",
        "content",
        "from_number",
        "messaging_service_sid",
        "send_window",
        "scheduled_at",
        "expires_at",
        "start_due_at",
        "active",
    }
)
_LOG_STATUS = """
INSERT INTO campaign_status_history (campaign_id, version, status, previous)
VALUES ($1, $2, $3, $4)
"""
_COPY_AUDIENCE = """
INSERT INTO recipients (campaign_id, position, contact_id, phone, name, vars)
SELECT $2, position, contact_id, phone, name, vars FROM recipients WHERE campaign_id = $1
"""

Audience = Iterable[Recipient] | AsyncIterable[Recipient]


class DraftStore:
    def __init__(self, pool: Any | PoolSource, campaigns: CampaignStore) -> None:
        self._pool = pool_source(pool)
        self._campaigns = campaigns

    async def edit(
        self,
        campaign_id: str,
        allowed: Iterable[str],
        fields: Mapping[str, Any],
        *,
        status: str | None = None,
        audience: Audience | None = None,
    ) -> tuple[bool, str | None]:
        """Set ``fields`` (and ``status``; and replace the audience with ``audience``,
        its total with it) if the campaign's status is one of ``allowed``. Returns
        whether it changed and the status it found (None: no such campaign)."""
        unknown = set(fields) - EDITABLE
        if unknown:
            raise ValueError(f"an edit cannot set {sorted(unknown)}")
        async with self._pool().acquire() as connection, connection.transaction():
            found = await connection.fetchval(
                "SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id
            )
            if found is None or found not in tuple(allowed):
                return False, found
            values = dict(fields)
            if audience is not None:
                await connection.execute(
                    "DELETE FROM campaign_audiences WHERE campaign_id = $1", campaign_id
                )
                values["total"] = await freeze_on(connection, campaign_id, audience)
            new_status = status or found
            names = list(values)
            assignments = "".join(f", {name} = ${i}" for i, name in enumerate(names, start=3))
            version = await connection.fetchval(
                "UPDATE campaigns SET status = $2, status_version = status_version + 1"
                f"{assignments} WHERE id = $1 RETURNING status_version",
                campaign_id,
                new_status,
                *values.values(),
            )
            if new_status != found:
                await connection.execute(_LOG_STATUS, campaign_id, version, new_status, found)
        await self._campaigns.status_cache.write(campaign_id, version, new_status)
        return True, found

    async def delete(self, campaign_id: str, allowed: Iterable[str]) -> tuple[bool, str | None]:
        """Delete the campaign, its history and its audience if its status is one of
        ``allowed``. Returns whether it was deleted and the status it found."""
        async with self._pool().acquire() as connection, connection.transaction():
            found = await connection.fetchval(
                "SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id
            )
            if found is None or found not in tuple(allowed):
                return False, found
            await connection.execute(
                "DELETE FROM campaign_audiences WHERE campaign_id = $1", campaign_id
            )
            # The history goes with it (ON DELETE CASCADE).
            await connection.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)
        await self._campaigns.status_cache.forget(campaign_id)
        return True, found

    async def copy_audience(self, from_campaign: str, to_campaign: str) -> int:
        """Copy one campaign's audience (who, in send order; no outcome) to a campaign
        that has none yet; returns its size (0: the first has none left, its retention
        passed, and nothing is written)."""
        async with self._pool().acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO campaign_audiences (campaign_id, size) VALUES ($1, 0)", to_campaign
            )
            status = await connection.execute(_COPY_AUDIENCE, from_campaign, to_campaign)
            size = int(status.rsplit(" ", 1)[-1])
            if size == 0:
                raise _NothingToCopy
            await connection.execute(
                "UPDATE campaign_audiences SET size = $2 WHERE campaign_id = $1", to_campaign, size
            )
        return size


class _NothingToCopy(Exception):
    pass


async def copied_audience_size(drafts: DraftStore, from_campaign: str, to_campaign: str) -> int:
    """:meth:`DraftStore.copy_audience`, 0 (and nothing written) when there is none."""
    try:
        return await drafts.copy_audience(from_campaign, to_campaign)
    except _NothingToCopy:
        return 0
