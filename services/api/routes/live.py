"""A campaign's queue status as server-sent events: what the dashboard's campaign page shows.

The dashboard reads the stream with ``fetch()`` rather than ``EventSource``: fetch sends
the usual ``Authorization: Bearer`` header, so the token stays out of URLs (and so out of
logs and history), this endpoint has the same auth as every other one, and a 401 or 404
reaches the page as a status and a JSON body, where EventSource only reports "error".
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from services.api.deps import CampaignReaderDep, CurrentUser, SettingsDep
from services.api.schemas import status_examples
from services.api.schemas.errors import errors
from services.api.schemas.queue_status import CampaignQueueStatusPublic
from shared.lifecycle import is_final
from shared.twilio_errors import ERROR_CODES

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/campaigns", tags=["live"], responses=errors(401))

# Redis is read this often; an event goes out only when what it shows has changed.
POLL_INTERVAL_S = 0.3
# A comment line when nothing changed for this long keeps proxies from closing the stream.
HEARTBEAT_S = 15.0
# The current rate: contacts processed over this trailing window.
RATE_WINDOW_S = 5.0
# Outcomes still arrive after a stop (the cancelled contacts): a finished campaign's
# stream ends once its counts are complete, or have not moved for this long.
FINAL_SETTLE_S = 3.0
# The client reconnects after this; a bounded stream re-checks the token on each start.
STREAM_LIFETIME_S = 300.0
RECONNECT_MS = 1_000


def error_kinds(errors_by_code: dict[str, int]) -> dict[str, str | None]:
    """Whether asking again may help, for each code a campaign failed with: the page
    shows it beside the code's meaning (queue-status ``failureReasons``)."""
    kinds: dict[str, str | None] = {}
    for code in errors_by_code:
        disposition = ERROR_CODES.get(int(code)) if code.isdigit() else None
        kinds[code] = disposition.value if disposition is not None else None
    return kinds


class RateWindow:
    """Contacts processed per second over the last ``window_s``: the rate now, where the
    queue-status average covers the whole run (pauses included)."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at_s: float, processed: int) -> None:
        self._samples.append((at_s, processed))
        while len(self._samples) > 2 and at_s - self._samples[1][0] >= self._window_s:
            self._samples.popleft()

    def per_second(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (first_s, first), (last_s, last) = self._samples[0], self._samples[-1]
        return round(max(0, last - first) / (last_s - first_s), 1) if last_s > first_s else 0.0


def server_stopping() -> bool:
    """True once uvicorn has been asked to stop.

    uvicorn lets open responses finish before it stops, and an event stream does not
    finish by itself: a shutdown would wait until the process is killed. uvicorn's
    SIGTERM handler is a method of its server, which carries the flag.
    """
    handler = signal.getsignal(signal.SIGTERM)
    return bool(getattr(getattr(handler, "__self__", None), "should_exit", False))


def _fingerprint(status: CampaignQueueStatusPublic, rate: float) -> bytes:
    # Elapsed time and the run-long average move on every read; they alone are no news.
    shown = status.model_dump(
        mode="json", exclude={"metrics": {"processing_time_ms", "messages_per_second"}}
    )
    return orjson.dumps([shown, rate])


def _event(status: CampaignQueueStatusPublic, rate: float, limit: int) -> bytes:
    body = {
        "success": True,
        "status": status.model_dump(mode="json", by_alias=True),
        "live": {
            "ratePerSecond": rate,
            "rateLimitPerSecond": limit,
            "errorKinds": error_kinds(status.metrics.errors_by_code),
        },
    }
    return b"event: status\ndata: " + orjson.dumps(body) + b"\n\n"


def _complete(status: CampaignQueueStatusPublic) -> bool:
    """Every recipient has an end state (skipped, cancelled and expired ones too)."""
    account = status.account
    return status.total_jobs == 0 or (account is not None and account.waiting == 0)


async def status_events(
    first: CampaignQueueStatusPublic,
    read: Callable[[], Awaitable[CampaignQueueStatusPublic]],
    rate_limit: int,
    stopping: Callable[[], bool] = server_stopping,
) -> AsyncIterator[bytes]:
    """``status`` events from ``first`` on, each time what the page shows changes."""
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    rate = RateWindow(RATE_WINDOW_S)
    started = last_sent = last_change = time.monotonic()
    last_fingerprint = b""
    status = first
    while True:
        now = time.monotonic()
        rate.add(now, status.progress.processed)
        fingerprint = _fingerprint(status, rate.per_second())
        if fingerprint != last_fingerprint:
            yield _event(status, rate.per_second(), rate_limit)
            last_fingerprint, last_sent, last_change = fingerprint, now, now
        elif now - last_sent >= HEARTBEAT_S:
            yield b": heartbeat\n\n"
            last_sent = now
        if is_final(status.status) and (_complete(status) or now - last_change >= FINAL_SETTLE_S):
            return
        if stopping() or now - started >= STREAM_LIFETIME_S:
            return
        await asyncio.sleep(POLL_INTERVAL_S)
        try:
            status = await read()
        except RedisError as error:
            # Ended rather than broken: the page reconnects, and hears the 503 until
            # Redis is back.
            log.warning("event stream ended: redis unavailable", extra={"reason": repr(error)})
            return


def _stream_example() -> str:
    """What a client reads first, written by the code that writes the stream."""
    status = status_examples.campaign_queue_status()
    return f"retry: {RECONNECT_MS}\n\n" + _event(status, 20.0, 80).decode() + ": heartbeat\n\n"


EVENT_STREAM = {
    200: {
        "description": "A text/event-stream of `status` events, each sent when what it "
        "shows changes.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": _stream_example(),
            }
        },
    },
    **errors(404, 422, d404="No campaign of yours has this id (a JSON answer, not a stream)."),
}


@router.get(
    "/{campaign_id}/events",
    summary="Campaign status events",
    response_class=StreamingResponse,
    responses=EVENT_STREAM,
)
async def campaign_events(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep, settings: SettingsDep
) -> StreamingResponse:
    """The campaign's queue status as server-sent events, sent each time it changes.

    Read it with `fetch()` and the usual `Authorization: Bearer` header (EventSource
    cannot send one). The stream is, in order:

    - `retry: 1000`: reconnect after a second when the stream ends.
    - `event: status` with `data:` one line of JSON, `{"success": true, "status": ...,
      "live": ...}`: `status` is the body of `GET .../queue-status`'s `status`
      (CampaignQueueStatusPublic); `live` holds `ratePerSecond` (contacts processed per
      second over the last 5 s), `rateLimitPerSecond` (TWILIO_RATE_LIMIT_PER_SECOND) and
      `errorKinds` (each error code in `metrics.errorsByCode` -> `retryable` or
      `permanent`, null when unknown). Sent at once, then whenever what it shows
      changes (elapsed time alone is no change).
    - `: heartbeat`, a comment, after 15 s without an event, for proxies.

    It ends by itself once the campaign is finished and its counts complete (or still for
    3 s), after 5 minutes (the client reconnects, and its token is checked again), when
    the api stops, or when Redis is unavailable (the reconnect then hears the 503).
    """
    # Read before the stream starts, so that a 404 is an ordinary JSON answer.
    first = await reader.queue_status(user, campaign_id)
    return StreamingResponse(
        status_events(
            first,
            lambda: reader.queue_status(user, campaign_id),
            settings.twilio_rate_limit_per_second,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
