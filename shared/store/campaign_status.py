"""The Redis copy of each campaign's status, for the readers that ask it per tick or per
message: the dispatcher's pacer (every campaign, ten times a second) and the senders
(every campaign, every 200 ms), which have no database connection at all.

PostgreSQL holds the status (shared/store/campaigns.py); this copy follows it. Each
entry is ``<version>:<status>``, the version being the row's ``status_version``, and
a write only ever replaces an older version: two moves whose copies are written out
of order still leave the newer one. A copy that is missing (a Redis that lost its
data) or behind (a replica promoted before it had the last write) is written again
from the row: on a miss by :meth:`CampaignStore.status`, and by the pacer's periodic
refresh of the campaigns it paces.

Layout (under the configured prefix): ``campaign:{id}:status``, a string.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.lifecycle import FINAL
from shared.redis import Keys

# A final status is kept this long: the senders cancel a stopped campaign's stragglers
# by it, and Kafka holds no command longer than its retention (7 days by default).
FINAL_STATUS_TTL_S = 7 * 24 * 3600

# KEYS: the entry. ARGV: version, status, seconds to keep ('' for ever).
_WRITE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+):'))
  if version and version >= tonumber(ARGV[1]) then
    return 0
  end
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
end
return 1
"""


def parse_entry(raw: bytes | str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, status = text.partition(":")
    return int(version), status


class StatusCache:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._write_if_newer = redis.register_script(_WRITE_IF_NEWER)

    def key(self, campaign_id: str) -> str:
        return self._keys("campaign", campaign_id, "status")

    async def read(self, campaign_id: str) -> str | None:
        """The copied status; None when there is no copy."""
        entry = parse_entry(await self._redis.get(self.key(campaign_id)))
        return entry[1] if entry is not None else None

    def queue_read(self, pipe: Pipeline, campaign_id: str) -> None:
        """Queue :meth:`read`'s GET on a pipeline; :func:`parse_entry` reads its reply."""
        pipe.get(self.key(campaign_id))

    async def forget(self, campaign_id: str) -> None:
        """Drop the copy of a campaign that no longer exists (a deleted draft)."""
        await self._redis.delete(self.key(campaign_id))

    async def write(self, campaign_id: str, version: int, status: str) -> None:
        await self.write_many([(campaign_id, version, status)])

    async def write_many(self, entries: Sequence[tuple[str, int, str]]) -> None:
        """Copy (campaign id, version, status) entries, in one round trip."""
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id, version, status in entries:
                ttl = str(FINAL_STATUS_TTL_S) if status in FINAL else ""
                await self._write_if_newer(
                    keys=[self.key(campaign_id)], args=[version, status, ttl], client=pipe
                )
            await pipe.execute()
