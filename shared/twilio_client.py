"""The official Twilio client, optionally pointed at another base URL (the local sandbox)."""

from __future__ import annotations

from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN

__all__ = ["SANDBOX_ACCOUNT_SID", "SANDBOX_AUTH_TOKEN", "make_twilio_client"]


def make_twilio_client(
    account_sid: str,
    auth_token: str,
    api_base_url: str | None,
    *,
    use_async: bool,
    http_client: AsyncHttpClient | None = None,
) -> Client:
    """Build the official client; api_base_url (e.g. "http://127.0.0.1:8090") replaces
    https://api.twilio.com for the Messages API, paging URIs included.

    With use_async=True, call this inside a running event loop (the aiohttp session is created
    here, unless ``http_client`` gives the client another), use the *_async methods, and
    `await client.http_client.close()` when done.
    """
    if use_async and http_client is None:
        http_client = AsyncTwilioHttpClient()
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base_url:
        # Edge/region rewriting (TWILIO_EDGE, TWILIO_REGION) would mangle a non-Twilio host.
        client.edge = None
        client.region = None
        client.api.base_url = api_base_url.rstrip("/")
    return client
