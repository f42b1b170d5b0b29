"""Where the senders' idempotency ledger lives, and how a Lua script reads a SID from it.

The ledger (services/sender/ledger.py) is a hash per campaign, ``{prefix}ledger:{campaign}``,
field = contact id, value = JSON with at least ``state`` and ``sid`` (null until sent).
The api reads it to tell a receipt for a message we sent from one for a SID nobody here
sent, inside the script that also marks the receipt seen, so both take one round trip.
"""

from __future__ import annotations

from shared.redis import Keys

# A Lua function: the SID a raw ledger entry records, or nil (absent, only claimed, unreadable).
SENT_SID_FUNCTION = """
local function sent_sid(raw)
  if not raw then return nil end
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' and type(entry.sid) == 'string' then return entry.sid end
  return nil
end
"""


def ledger_key(keys: Keys, campaign_id: str) -> str:
    return keys("ledger", campaign_id)
