"""The official Twilio client behind a circuit breaker, with Retry-After captured
(services/sender/twilio_http.py) and a deadline on every request."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from aiobreaker.state import CircuitBreakerState
from opentelemetry.trace import SpanKind, Status, StatusCode
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from services.sender.breaker import BreakerOpen, TwilioBreaker
from services.sender.settings import SenderSettings
from services.sender.twilio_http import (
    RESPONSE_NOTE,
    PooledTwilioHttpClient,
    ResponseNote,
)
from shared.events.models import SendMessage, TemplateContent
from shared.metrics import TWILIO_REQUEST_SECONDS
from shared.status_callback import status_callback_url
from shared.tracing import message_span, tracer
from shared.twilio_client import make_twilio_client
from shared.twilio_errors import is_retryable

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

# A page of the reconciliation list; a recipient rarely has more messages in two minutes.
RECONCILE_PAGE_SIZE = 100
RECONCILE_LIMIT = 1_000
# What MessageList.create_async asks for: a form, a JSON answer.
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}

T = TypeVar("T")


class SendError(Exception):
    """A send that Twilio refused, or whose answer never came."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        http_status: int | None,
        retry_after_s: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        # The request may have reached Twilio (timeout, dropped connection): reconcile first.
        self.outcome_unknown = outcome_unknown

    @property
    def retryable(self) -> bool:
        return is_retryable(self.code, self.http_status)


def message_form(command: SendMessage, public_base_url: str | None = None) -> dict[str, str]:
    """The Messages resource's form for a command, in Twilio's field names (those the
    client's MessageList.create_async gives its keyword arguments)."""
    form = {"To": command.to, "From": command.from_number}
    if public_base_url and not command.test_send:
        # Delivery receipts come back to the api, naming the campaign and recipient; a
        # test send's would land in its campaign's funnel (shared/test_sends.py).
        form["StatusCallback"] = status_callback_url(
            public_base_url, command.campaign_id, command.contact_id, command.position
        )
    content = command.content
    if isinstance(content, TemplateContent):
        form["ContentSid"] = content.content_sid
        if content.content_variables:
            form["ContentVariables"] = json.dumps(content.content_variables)
    else:
        form["Body"] = content.body
    return form


def is_same_message(listed: Any, command: SendMessage) -> bool:
    """Whether a message listed at Twilio is this command's send."""
    if listed.from_ != command.from_number:
        return False
    if isinstance(command.content, TemplateContent):
        # The Messages resource does not echo ContentSid: From, To and time must do.
        return True
    return listed.body == command.content.body


def _is_permanent_answer(error: Exception) -> bool:
    # Twilio answered: a 4xx (429 included) says nothing about an outage.
    return isinstance(error, TwilioRestException) and int(error.status or 0) < 500


def to_send_error(error: Exception, retry_after_s: float | None, timeout_s: float) -> SendError:
    if isinstance(error, TwilioRestException):
        status = int(error.status) if error.status else None
        return SendError(
            str(error.msg),
            code=error.code,
            http_status=status,
            retry_after_s=retry_after_s,
            # Twilio: a 5xx "may or may not have been processed". A 4xx (429 included)
            # was not.
            outcome_unknown=status is not None and status >= 500,
        )
    if isinstance(error, TimeoutError):
        return SendError(
            f"no answer from Twilio within {timeout_s} s",
            code=None,
            http_status=None,
            outcome_unknown=True,
        )
    return SendError(
        f"Twilio request failed: {type(error).__name__}: {error}",
        code=None,
        http_status=None,
        outcome_unknown=isinstance(error, OSError),
    )


class TwilioGateway:
    """Twilio's Messages API as this service uses it: a send and a lookup, each through
    the breaker (services/sender/breaker.py), timed and traced."""

    def __init__(self, settings: SenderSettings) -> None:
        self._settings = settings
        self._timeout_s = settings.twilio_timeout_s
        self._breaker = TwilioBreaker(
            fail_max=settings.breaker_fail_max,
            reset_s=settings.breaker_reset_s,
            # A trial call's request ends within the timeout, however it ends.
            trial_timeout_s=settings.twilio_timeout_s + 1,
            exclude=[_is_permanent_answer],
            on_change=lambda: self.on_breaker_change(),
        )
        base = settings.twilio_base_url or "https://api.twilio.com"
        account, _ = settings.twilio_credentials
        # The Messages resource's path on the client's API version (client.api.v2010).
        self._messages_uri = f"/Accounts/{account}/Messages.json"
        # The same for every request: built once, not per send.
        self._request_attributes: dict[str, str | int] = {
            "http.request.method": "POST",
            "url.full": f"{base}/2010-04-01{self._messages_uri}",
            "server.address": base.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0],
            "messaging.system": "twilio",
            "messaging.operation.type": "send",
        }
        self._client: Client | None = None
        # Called after each change of the breaker's state (the heartbeat reports it).
        self.on_breaker_change: Callable[[], None] = lambda: None
        # Called with each Twilio request's duration in ms (recent figures for alerts).
        self.on_request_timed: Callable[[float], None] = lambda _ms: None

    async def open(self) -> None:
        """Build the client; needs the running loop."""
        sid, token = self._settings.twilio_credentials
        # One connection per request slot at most, kept alive and reused.
        http_client = PooledTwilioHttpClient(max_connections=self._settings.twilio_max_concurrent)
        client = make_twilio_client(
            sid, token, self._settings.twilio_base_url, use_async=True, http_client=http_client
        )
        # Against Twilio itself the client imports its Messages resource on first use,
        # blocking the loop for about 90 ms here: on the first send, between a limiter
        # grant and the request. (A sandbox base URL loads it while the client is built.)
        client.messages  # noqa: B018
        self._client = client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
            self._client = None

    @property
    def breaker_state(self) -> CircuitBreakerState:
        return self._breaker.state

    async def wait_until_closed(self) -> None:
        """Return when a call may go (services/sender/breaker.py)."""
        await self._breaker.wait_until_closed()

    async def create(self, command: SendMessage) -> str:
        """Send one message; returns its sid. Raises SendError or BreakerOpen."""
        if self._client is None:
            raise RuntimeError("gateway not open")
        attributes = self._span_attributes(command)
        kind = SpanKind.CLIENT
        refused: SendError | BreakerOpen | None = None
        with message_span(_tracer, "POST /Messages", kind=kind, attributes=attributes) as span:
            try:
                sid = await self._create(command)
            except SendError as error:
                span.set_status(Status(StatusCode.ERROR, error.message))
                span.set_attribute("error.type", str(error.code or error.http_status or "none"))
                if error.http_status is not None:
                    span.set_attribute("http.response.status_code", error.http_status)
                if error.code is not None:
                    span.set_attribute("twilio.error_code", error.code)
                refused = error
            except BreakerOpen as error:
                span.set_attribute("twilio.breaker", "open")
                refused = error
            else:
                span.set_attribute("http.response.status_code", 201)
                span.set_attribute("messaging.message.id", sid)
        # Raised outside the span: an answer of Twilio's is this span's result, not an
        # error escaping it, and a message that fails is traced once, where it fails.
        if refused is not None:
            raise refused
        return sid

    def _span_attributes(self, command: SendMessage) -> dict[str, str | int]:
        return {
            **self._request_attributes,
            "messaging.destination.name": command.from_number,
            "campaign.id": command.campaign_id,
        }

    async def _create(self, command: SendMessage) -> str:
        note = ResponseNote()
        token = RESPONSE_NOTE.set(note)
        started = time.perf_counter()
        outcome = "failed"
        try:
            form = message_form(command, self._settings.public_base_url)
            sid = await self._call(self._create_in_time, form, note=note)
            outcome = "sent"
        except BreakerOpen:
            outcome = "not_called"
            raise
        finally:
            RESPONSE_NOTE.reset(token)
            if outcome != "not_called":
                elapsed_s = time.perf_counter() - started
                TWILIO_REQUEST_SECONDS.labels(outcome=outcome).observe(elapsed_s)
                self.on_request_timed(elapsed_s * 1000)
        return sid

    async def _call(
        self, request: Callable[..., Awaitable[T]], *args: Any, note: ResponseNote | None = None
    ) -> T:
        """One Twilio request through the breaker. Raises BreakerOpen when the breaker
        refused it (no request made), SendError for whatever Twilio or the network did;
        ``note`` holds the Retry-After of a refusal."""
        try:
            return await self._breaker.call(request, *args)
        except (TwilioException, TimeoutError, OSError) as error:
            retry_after_s = note.retry_after_s if note is not None else None
            raise to_send_error(error, retry_after_s, self._timeout_s) from error

    async def _create_in_time(self, form: dict[str, str]) -> str:
        # The client's own create on its API version: the same request, authentication
        # and TwilioRestException as MessageList.create_async, which also maps some 30
        # keyword arguments and builds a MessageInstance from the answer (30 fields, three
        # RFC 2822 dates parsed) of which a send needs only the sid. Against the sandbox
        # with 200 in flight and aiohttp under the client: 0.18-0.20 ms of client CPU a
        # request instead of 0.25-0.29 (docs/performance.md).
        # The client passes no timeout, and the connections keep none: this is the bound.
        if self._client is None:
            raise RuntimeError("gateway not open")
        api = self._client.api.v2010
        headers = dict(_FORM_HEADERS)  # the client adds its own to the dict it is given
        async with asyncio.timeout(self._timeout_s):
            answer = await api.create_async("POST", self._messages_uri, data=form, headers=headers)
        return str(answer["sid"])

    async def find_sent(self, command: SendMessage, since: datetime) -> str | None:
        """The sid of this command's message if Twilio already has it, else None.

        Through the breaker, like a send: a failed lookup counts towards opening it, and
        one that succeeds closes it. Raises SendError or BreakerOpen.
        """
        if self._client is None:
            raise RuntimeError("gateway not open")
        listed = await self._call(self._list_in_time, command, since)
        for message in listed:
            if is_same_message(message, command):
                return str(message.sid)
        return None

    async def _list_in_time(self, command: SendMessage, since: datetime) -> list[Any]:
        async with asyncio.timeout(self._timeout_s):
            return await self._client.messages.list_async(  # type: ignore[union-attr]
                to=command.to,
                from_=command.from_number,
                date_sent_after=since,
                page_size=RECONCILE_PAGE_SIZE,
                limit=RECONCILE_LIMIT,
            )
