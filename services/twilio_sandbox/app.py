"""HTTP routes and wiring of the sandbox (aiohttp: lean form parsing on the hot path)."""

from __future__ import annotations

import asyncio
import binascii
import logging
import random
import signal
from base64 import b64decode, b64encode
from collections import Counter
from hmac import compare_digest

import orjson
from aiohttp import web
from pydantic import ValidationError

from .callbacks import CallbackDispatcher
from .clock import NS_PER_MS, SandboxClock
from .errors import error_response
from .faults import (
    INTERNAL_ERROR,
    FaultConfig,
    FaultUpdate,
    InjectedFailure,
    apply_update,
    injected_failure,
    latency_s,
    match_permanent_error,
    outage_failure,
)
from .messages import (
    API_VERSION,
    PATH_BY_FINAL_STATUS,
    MessageStore,
    delivered_path,
    ledger_entry,
    message_resource,
)
from .paging import (
    InvalidListQuery,
    page_envelope,
    parse_filters,
    parse_page_number,
    parse_page_size,
    select_page,
)
from .rate_window import SlidingWindowLimiter
from .settings import SandboxSettings

logger = logging.getLogger(__name__)

ACCOUNT_PREFIX = f"/{API_VERSION}/Accounts/{{account_sid}}"
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="Twilio API"'}


def json_response(payload: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def default_faults(settings: SandboxSettings) -> FaultConfig:
    return FaultConfig(
        latency_ms=settings.latency_ms,
        latency_jitter_ms=settings.latency_jitter_ms,
        error_rate=settings.error_rate,
        force_429_rate=settings.force_429_rate,
        accepted_error_rate=settings.accepted_error_rate,
        mps=settings.mps,
    )


class SandboxState:
    """Everything a request handler needs; one per application, built from settings."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.clock = SandboxClock()
        self.store = MessageStore()
        self.limiter = SlidingWindowLimiter()
        self.default_faults = default_faults(settings)
        self.faults = self.default_faults
        self.random = random.Random()
        # Create answers by HTTP status since start or the last ledger reset (GET /_sandbox/stats).
        self.create_responses: Counter[int] = Counter()
        self.step_delay_ns = settings.callback_delay_ms * NS_PER_MS
        self.callbacks = CallbackDispatcher(
            account_sid=settings.account_sid, auth_token=settings.auth_token, clock=self.clock
        )
        credentials = f"{settings.account_sid}:{settings.auth_token}".encode()
        self._expected_authorization = "Basic " + b64encode(credentials).decode()

    def is_authorized(self, request: web.Request) -> bool:
        if request.match_info["account_sid"] != self.settings.account_sid:
            return False
        header = request.headers.get("Authorization")
        if header == self._expected_authorization:
            return True
        if not header:
            return False
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            credentials = b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        login, _, password = credentials.partition(b":")
        return compare_digest(login, self.settings.account_sid.encode()) and compare_digest(
            password, self.settings.auth_token.encode()
        )

    def accept_or_reject(self, form: dict[str, str], now_ns: int) -> web.Response:
        """Validate, rate-limit and record a create request; synchronous, hence atomic."""
        faults = self.faults
        failure = injected_failure(
            faults, now_ns // NS_PER_MS, self.random.random(), self.random.random()
        )
        if failure is not None:
            return failure_response(failure)
        to = form.get("To")
        if not to:
            return error_response(21604, 400)
        body = form.get("Body")
        content_sid = form.get("ContentSid")
        if not (body or content_sid or form.get("MediaUrl")):
            return error_response(21602, 400)
        from_ = form.get("From")
        messaging_service_sid = form.get("MessagingServiceSid")
        if not (from_ or messaging_service_sid):
            return error_response(21603, 400)
        rule = match_permanent_error(faults.permanent_errors, to)
        if rule is not None and rule.mode == "sync":
            return error_response(rule.code, 400)
        window = self.limiter.try_acquire(from_ or messaging_service_sid or "", now_ns, faults.mps)
        if not window.allowed:
            return error_response(20429, 429, headers={"Retry-After": str(window.retry_after_s)})
        message = self.store.add(
            from_=from_ or None,
            to=to,
            body=body,
            content_sid=content_sid or None,
            content_variables=form.get("ContentVariables") or None,
            messaging_service_sid=messaging_service_sid or None,
            status_callback=form.get("StatusCallback") or None,
            accepted_at_ns=now_ns,
            step_delay_ns=self.step_delay_ns,
            status_path=(
                delivered_path(to)
                if rule is None
                else PATH_BY_FINAL_STATUS[rule.async_final_status()]
            ),
            final_error_code=None if rule is None else rule.code,
        )
        self.callbacks.schedule(message)
        if faults.accepted_error_rate and self.random.random() < faults.accepted_error_rate:
            # In the ledger and on its way, yet answered as a server error.
            return failure_response(INTERNAL_ERROR)
        resource = message_resource(message, self.settings.account_sid, now_ns, just_created=True)
        return json_response(resource, status=201)


STATE = web.AppKey("sandbox_state", SandboxState)


def unauthorized() -> web.Response:
    return error_response(20003, 401, headers=UNAUTHORIZED_HEADERS)


def failure_response(failure: InjectedFailure) -> web.Response:
    headers = None
    if failure.retry_after_s is not None:
        headers = {"Retry-After": str(failure.retry_after_s)}
    return error_response(failure.code, failure.http_status, headers=headers)


def unavailable(state: SandboxState) -> web.Response | None:
    """During an outage a read fails like a create: 503 with Retry-After."""
    failure = outage_failure(state.faults, state.clock.now_ns() // NS_PER_MS)
    return None if failure is None else failure_response(failure)


async def create_message(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.is_authorized(request):
        state.create_responses[401] += 1
        return unauthorized()
    form = await request.post()
    response = state.accept_or_reject(form, state.clock.now_ns())  # type: ignore[arg-type]
    state.create_responses[response.status] += 1
    faults = state.faults
    if faults.latency_ms or faults.latency_jitter_ms:
        # Delay the answer, not the decision: a client that times out meanwhile has a message
        # that was accepted, the "outcome unknown" case a sender must reconcile.
        await asyncio.sleep(latency_s(faults, state.random.random()))
    return response


async def fetch_message(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.is_authorized(request):
        return unauthorized()
    if (outage := unavailable(state)) is not None:
        return outage
    message = state.store.get(request.match_info["message_sid"])
    if message is None:
        return error_response(20404, 404, f"The requested resource {request.path} was not found")
    now_ns = state.clock.now_ns()
    return json_response(message_resource(message, state.settings.account_sid, now_ns))


async def list_messages(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.is_authorized(request):
        return unauthorized()
    if (outage := unavailable(state)) is not None:
        return outage
    query = request.query
    try:
        filters = parse_filters(query)
        page_size = parse_page_size(query.get("PageSize"))
        page_number = parse_page_number(query.get("Page"))
    except InvalidListQuery as exc:
        return error_response(20001, 400, str(exc))
    page_token = query.get("PageToken") or None
    selection = select_page(state.store, filters, page_size, page_token)
    now_ns = state.clock.now_ns()
    account_sid = state.settings.account_sid
    resources = [message_resource(m, account_sid, now_ns) for m in selection.messages]
    envelope = page_envelope(
        account_sid, query, page_size, page_number, page_token, selection, resources
    )
    return json_response(envelope)


async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].faults.model_dump(mode="json"))


async def update_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        update = FaultUpdate.model_validate_json(await request.read())
    except ValidationError as exc:
        return json_response({"error": str(exc)}, status=400)
    state.faults = apply_update(state.faults, update, state.clock.now_ms())
    logger.info("faults changed", extra={"faults": state.faults.model_dump(mode="json")})
    return json_response(state.faults.model_dump(mode="json"))


async def reset_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.faults = state.default_faults
    return json_response(state.faults.model_dump(mode="json"))


async def get_ledger(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw_since_ms = request.query.get("since_ms")
    try:
        since_ms = int(raw_since_ms) if raw_since_ms else None
    except ValueError:
        return json_response({"error": f"since_ms must be an integer: {raw_since_ms!r}"}, 400)
    messages = state.store.ledger(to=request.query.get("to") or None, since_ms=since_ms)
    now_ns = state.clock.now_ns()
    entries = [ledger_entry(m, now_ns) for m in messages]
    return json_response({"messages": entries, "count": len(entries)})


async def clear_ledger(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cleared = len(state.store)
    state.store.clear()
    state.limiter.clear()
    state.create_responses.clear()
    return json_response({"cleared": cleared})


async def get_stats(request: web.Request) -> web.Response:
    counts = request.app[STATE].create_responses
    return json_response({"responses": {str(status): n for status, n in sorted(counts.items())}})


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def build_app(settings: SandboxSettings) -> web.Application:
    app = web.Application()
    state = SandboxState(settings)
    app[STATE] = state

    async def callbacks_lifecycle(_: web.Application):  # type: ignore[no-untyped-def]
        await state.callbacks.start()
        yield
        await state.callbacks.close()

    app.cleanup_ctx.append(callbacks_lifecycle)
    app.router.add_post(f"{ACCOUNT_PREFIX}/Messages.json", create_message)
    app.router.add_get(f"{ACCOUNT_PREFIX}/Messages.json", list_messages)
    app.router.add_get(f"{ACCOUNT_PREFIX}/Messages/{{message_sid}}.json", fetch_message)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", update_faults)
    app.router.add_delete("/_sandbox/faults", reset_faults)
    app.router.add_get("/_sandbox/ledger", get_ledger)
    app.router.add_delete("/_sandbox/ledger", clear_ledger)
    app.router.add_get("/_sandbox/stats", get_stats)
    app.router.add_get("/_sandbox/health", health)
    return app


async def serve(settings: SandboxSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    runner = web.AppRunner(build_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, stop.set)
        bound_host, bound_port = runner.addresses[0][:2]
        logger.info(
            "twilio sandbox listening",
            extra={"url": f"http://{bound_host}:{bound_port}", "mps": settings.mps},
        )
        await stop.wait()
        logger.info("twilio sandbox stopping")
    finally:
        await runner.cleanup()
