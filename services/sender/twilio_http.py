"""The official Twilio client's HTTP layer, as the senders use it.

A thin subclass of the client's aiohttp-based HTTP client. It notes each response's
Retry-After in a context variable of the calling task (the client's
TwilioRestException carries the code and status but not the headers; the client
awaits its HTTP client directly, so the note lands in the same task even with many
sends in flight at once), and it builds each request with less work than the base.
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
from typing import Any
from urllib.parse import urlencode

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response


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


class RetryAfterCapturingHttpClient(AsyncTwilioHttpClient):
    # The base client formats its log lines (the response's headers among them) before
    # the logger drops them; at WARNING, as shared/logging.py sets it, skip the work.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)

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
        # The base request does the same, at a cost measured at about a tenth of a
        # sender's CPU: per call it builds an aiohttp BasicAuth, which aiohttp answers
        # with a DeprecationWarning through the warnings machinery, and hands the dict
        # body to aiohttp's FormData, which builds a multipart writer (and draws a uuid4
        # from os.urandom) before it settles on a url-encoded form. Here the header is
        # encoded once per credential pair and the form by urlencode, as FormData would.
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic_authorization(*auth)
        body = urlencode(data, doseq=True).encode() if data else None
        kwargs: dict[str, Any] = {
            "method": method.upper(),
            "url": url,
            "params": params,
            "data": body,
            "headers": headers,
            "timeout": timeout,
            "allow_redirects": allow_redirects,
        }
        self.log_request(kwargs)
        if self.session is None:
            raise RuntimeError("the HTTP client has no session")
        async with self.session.request(**kwargs) as answer:
            self.log_response(answer.status, answer)
            response = Response(answer.status, await answer.text(), answer.headers)
        note = RESPONSE_NOTE.get()
        if note is not None:
            note.retry_after_s = parse_retry_after(answer.headers.get("Retry-After"))
        return response


@functools.lru_cache(maxsize=4)
def _basic_authorization(login: str, password: str) -> str:
    # aiohttp's BasicAuth.encode: latin-1, base64.
    return "Basic " + base64.b64encode(f"{login}:{password}".encode("latin1")).decode("ascii")
