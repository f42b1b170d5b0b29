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

# KEYS: the contact ids' and the phones' position hashes. ARGV: the first position, then
# (contact id, phone or '') per recipient. Each is claimed for its position unless an
# earlier one holds it. Returns two characters per recipient, '1' for a duplicate
# contact id then '1' for a duplicate phone: one short string to parse, where a
# pipeline of four commands per recipient cost the dispatcher more than the rest of
# its work on a batch.
_CLAIM_POSITIONS = """
local start = tonumber(ARGV[1])
local function duplicate(hash, field, position)
  if redis.call('HSETNX', hash, field, position) == 1 then
    return '0'
  end
  if tonumber(redis.call('HGET', hash, field)) == position then
    return '0'
  end
  return '1'
end
local flags = {}
for i = 2, #ARGV, 2 do
  local position = start + (i - 2) / 2
  local phone_flag = '0'
  if ARGV[i + 1] ~= '' then
    phone_flag = duplicate(KEYS[2], ARGV[i + 1], position)
  end
  flags[#flags + 1] = duplicate(KEYS[1], ARGV[i], position) .. phone_flag
end
return table.concat(flags)
"""


def _hashes(keys: Keys, campaign_id: str) -> list[str]:
    return [
        keys("campaign", campaign_id, "positions", "contacts"),
        keys("campaign", campaign_id, "positions", "phones"),
    ]


class AudiencePositions:
    """The claims' keys are laid out here alone: the expander claims and forgets through this."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def claim(
        self, campaign_id: str, start: int, recipients: Sequence[Recipient], *, normalise: bool
    ) -> list[tuple[str | None, bool, bool]]:
        return await claim_positions(
            self._redis, self._keys, campaign_id, start, recipients, normalise=normalise
        )

    async def forget(self, campaign_id: str) -> None:
        """The claims are only needed while batches may be emitted again."""
        await self._redis.delete(*_hashes(self._keys, campaign_id))


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
    if not recipients:
        return []
    args: list[str | int] = [start]
    for recipient, phone in zip(recipients, phones, strict=True):
        args += [recipient.contact_id, phone or ""]
    script = redis.register_script(_CLAIM_POSITIONS)  # EVALSHA: the text goes once
    flags = await script(
        keys=_hashes(keys, campaign_id),
        args=args,
    )
    flags = flags.decode() if isinstance(flags, bytes) else flags
    return [
        (phone, flags[2 * offset] == "1", flags[2 * offset + 1] == "1")
        for offset, phone in enumerate(phones)
    ]
