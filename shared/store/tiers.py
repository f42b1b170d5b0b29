"""WhatsApp messaging tiers: unique recipients per sender number per rolling 24 h.

A business-initiated conversation with a user counts against the sender's tier for
24 hours from when it opens; more messages to the same user in that time open no
new one. Layout (under the prefix):
- ``tier:{number}``  sorted set: recipient -> when their conversation opened (ms)

Admission is one script per batch and number, so several dispatchers never let
more than the tier through between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis import Keys

DAY_MS = 24 * 3600 * 1000

# KEYS[1]: the number's set. ARGV: now_ms, window_ms, limit, then recipients.
# Returns {admitted flags..., reopens_at_ms}: reopens_at_ms is when the oldest
# conversation in the window leaves it (0 when nothing was refused).
_ADMIT = """
local key = KEYS[1]
local now_ms = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window_ms)
local count = redis.call('ZCARD', key)
local flags = {}
local refused = false
for i = 4, #ARGV do
  local recipient = ARGV[i]
  if redis.call('ZSCORE', key, recipient) then
    flags[#flags + 1] = 1
  elseif count < limit then
    redis.call('ZADD', key, now_ms, recipient)
    count = count + 1
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
    refused = true
  end
end
local reopens = 0
if refused then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  reopens = tonumber(oldest[2]) + window_ms
end
redis.call('PEXPIRE', key, window_ms + 60000)
flags[#flags + 1] = tostring(reopens)
return flags
"""


@dataclass(frozen=True, slots=True)
class TierAdmission:
    admitted: list[bool]
    reopens_at_ms: int | None  # None when every recipient was admitted


class TierStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._keys = keys
        self._script = redis.register_script(_ADMIT)
        self._redis = redis

    async def admit(
        self, number: str, recipients: Sequence[str], limit: int, now_ms: int
    ) -> TierAdmission:
        """Which recipients may get a message from ``number`` now, in order."""
        if not recipients:
            return TierAdmission([], None)
        reply = await self._script(
            keys=[self._keys("tier", number)], args=[now_ms, DAY_MS, limit, *recipients]
        )
        reopens = int(float(reply[-1]))
        return TierAdmission([bool(int(flag)) for flag in reply[:-1]], reopens or None)

    async def used(self, number: str, now_ms: int) -> int:
        return await self._redis.zcount(self._keys("tier", number), f"({now_ms - DAY_MS}", "+inf")
