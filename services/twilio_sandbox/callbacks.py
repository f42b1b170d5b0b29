"""Signed status callbacks, posted in the background as each message advances."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping

import aiohttp

from .clock import SandboxClock
from .errors import error_message
from .faults import WHATSAPP_PREFIX
from .messages import API_VERSION, Message

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
DEFAULT_MAX_PENDING_CALLBACKS = 10_000
DEFAULT_CALLBACK_TIMEOUT_S = 5.0
FAILURE_LOG_INTERVAL_NS = 1_000_000_000


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature: base64(HMAC-SHA1(token, url + sorted k+v))."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def callback_params(
    message: Message, account_sid: str, status: str, error_code: int | None
) -> dict[str, str]:
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "AccountSid": account_sid,
        "From": message.from_ or "",
        "To": message.to,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": API_VERSION,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.to.startswith(WHATSAPP_PREFIX):
        params["ChannelPrefix"] = "whatsapp"
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
        params["ErrorMessage"] = error_message(error_code)
    return params


class CallbackDispatcher:
    """One background task per message with a StatusCallback, bounded in number.

    A message's callbacks are posted in order by its own task, so a receiver never sees
    `delivered` before `sent`. Delivery failures are logged (at most once a second) and dropped.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        clock: SandboxClock,
        max_pending: int = DEFAULT_MAX_PENDING_CALLBACKS,
        timeout_s: float = DEFAULT_CALLBACK_TIMEOUT_S,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._clock = clock
        self._max_pending = max_pending
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures_since_log = 0
        self._last_failure_log_ns = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(limit=256)
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def schedule(self, message: Message) -> None:
        if not message.status_callback:
            return
        if len(self._tasks) >= self._max_pending:
            self._record_failure(message.status_callback, "too many pending callbacks")
            return
        task = asyncio.get_running_loop().create_task(self._deliver_all(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_all(self, message: Message) -> None:
        for step, status in enumerate(message.status_path):
            wait_ns = message.step_due_ns(step) - self._clock.now_ns()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / 1e9)
            params = callback_params(
                message, self._account_sid, status, message.error_code_at_step(step)
            )
            await self._post(message.status_callback or "", params, f"{message.sid}-{status}")

    async def _post(self, url: str, params: dict[str, str], idempotency_token: str) -> None:
        if self._session is None:
            raise RuntimeError("CallbackDispatcher.start() was not awaited")
        headers = {
            SIGNATURE_HEADER: twilio_signature(self._auth_token, url, params),
            IDEMPOTENCY_HEADER: idempotency_token,
        }
        try:
            async with self._session.post(url, data=params, headers=headers) as response:
                await response.read()
                if response.status >= 400:
                    self._record_failure(url, f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._record_failure(url, f"{type(exc).__name__}: {exc}")

    def _record_failure(self, url: str, reason: str) -> None:
        # A dead receiver under benchmark load would otherwise log thousands of lines a second.
        self._failures_since_log += 1
        now_ns = self._clock.now_ns()
        if now_ns - self._last_failure_log_ns >= FAILURE_LOG_INTERVAL_NS:
            logger.warning(
                "status callback dropped",
                extra={"url": url, "reason": reason, "dropped": self._failures_since_log},
            )
            self._failures_since_log = 0
            self._last_failure_log_ns = now_ns
