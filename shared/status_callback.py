"""The StatusCallback URL senders give Twilio, and what the api reads back from it.

The campaign, the contact and its place in the audience ride in the query string:
Twilio signs the whole URL, so a receipt names its recipient without a lookup and
nobody can alter that part.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

STATUS_PATH = "/api/webhooks/twilio/status"
INBOUND_PATH = "/api/webhooks/twilio/inbound"
CAMPAIGN_PARAM = "campaignId"
CONTACT_PARAM = "contactId"
POSITION_PARAM = "position"


def status_callback_url(
    public_base_url: str, campaign_id: str, contact_id: str, position: int | None = None
) -> str:
    fields = {CAMPAIGN_PARAM: campaign_id, CONTACT_PARAM: contact_id}
    if position is not None:
        fields[POSITION_PARAM] = str(position)
    return f"{public_base_url.rstrip('/')}{STATUS_PATH}?{urlencode(fields)}"


def message_of(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The campaign and contact a callback URL's query names (None where absent)."""
    return query.get(CAMPAIGN_PARAM) or None, query.get(CONTACT_PARAM) or None


def position_of(query: Mapping[str, str]) -> int | None:
    """The recipient's place in the audience (None where absent or not a position:
    callbacks of messages sent before positions rode in the URL have none)."""
    raw = query.get(POSITION_PARAM, "")
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None
