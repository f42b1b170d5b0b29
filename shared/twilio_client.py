"""The official Twilio client, optionally pointed at another base URL (the local sandbox)."""

from __future__ import annotations

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN

__all__ = ["SANDBOX_ACCOUNT_SID", "SANDBOX_AUTH_TOKEN", "make_twilio_client"]


def make_twilio_client(
    account_sid: str, auth_token: str, api_base_url: str | None, *, use_async: bool
) -> Client:
    """Build the official client; api_base_url (e.g. "http://127.0.0.1:8090") replaces
    https://api.twilio.com for the Messages API, paging URIs included.

    With use_async=True, call this inside a running event loop (the aiohttp session is created
    here), use the *_async methods, and `await client.http_client.close()` when done.
    """
    http_client = AsyncTwilioHttpClient() if use_async else None
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base_url:
        # Edge/region rewriting (TWILIO_EDGE, TWILIO_REGION) would mangle a non-Twilio host.
        client.edge = None
        client.region = None
        client.api.base_url = api_base_url.rstrip("/")
    return client
