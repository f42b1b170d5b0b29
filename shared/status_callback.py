"""The StatusCallback URL senders give Twilio, and what the api reads back from it.

The campaign and contact ride in the query string: Twilio signs the whole URL, so a
receipt names its campaign without a lookup and nobody can alter that part.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

STATUS_PATH = "/api/webhooks/twilio/status"
INBOUND_PATH = "/api/webhooks/twilio/inbound"
CAMPAIGN_PARAM = "campaignId"
CONTACT_PARAM = "contactId"


def status_callback_url(public_base_url: str, campaign_id: str, contact_id: str) -> str:
    query = urlencode({CAMPAIGN_PARAM: campaign_id, CONTACT_PARAM: contact_id})
    return f"{public_base_url.rstrip('/')}{STATUS_PATH}?{query}"


def message_of(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The campaign and contact a callback URL's query names (None where absent)."""
    return query.get(CAMPAIGN_PARAM) or None, query.get(CONTACT_PARAM) or None
