"""The official Twilio client's HTTP layer, as the senders use it.

The client takes any ``AsyncHttpClient``; this one sends through the senders' own
kept-alive connections (services/sender/http_connections.py, for what aiohttp cost
there). The client still builds every request, authenticates it and turns the
answer into TwilioRestException; this layer only carries it. It also notes each
answer's Retry-After in a context variable of the calling task (the exception
carries the code and status but not the headers; the client awaits its HTTP client
directly, so the note lands in the same task even with many sends in flight at once).
"""

from __future__ import annotations

import base64
import functools
import logging
import math
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from services.sender.http_connections import ConnectionPool


@dataclass(slots=True)
class ResponseNote:
    retry_after_s: float | None = None


RESPONSE_NOTE: ContextVar[ResponseNote | None] = ContextVar("twilio_response_note", default=None)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class PooledTwilioHttpClient(AsyncHttpClient):
    def __init__(self, *, max_connections: int, keepalive_s: float = 30.0) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=True)
        self._pool = ConnectionPool(limit=max_connections, keepalive_s=keepalive_s)

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the base class's signature)
        allow_redirects: bool = False,
    ) -> Response:
        # The caller bounds each request (an asyncio timeout around the client's call);
        # no redirect is followed, as the client asks of the Messages API.
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        method = method.upper()
        # The client builds this dict for this one request: the header joins it.
        sent_headers = headers if headers is not None else {}
        if auth is not None:
            sent_headers["Authorization"] = _basic_authorization(*auth)
        body = urlencode(data, doseq=True).encode() if data else None
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
        if self.logger.isEnabledFor(logging.INFO):  # the client's own request log
            self.log_request(
                {"method": method, "url": url, "params": None, "headers": sent_headers}
            )
        answer = await self._pool.request(method, url, sent_headers, body)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(answer.status, answer)  # type: ignore[arg-type]
        note = RESPONSE_NOTE.get()
        if note is not None:
            note.retry_after_s = parse_retry_after(answer.headers.get("Retry-After"))
        return Response(answer.status, answer.body.decode("utf-8", "replace"), answer.headers)

    async def close(self) -> None:
        await self._pool.close()


@functools.lru_cache(maxsize=4)
def _basic_authorization(login: str, password: str) -> str:
    # aiohttp's BasicAuth.encode: latin-1, base64.
    return "Basic " + base64.b64encode(f"{login}:{password}".encode("latin1")).decode("ascii")
