"""OpenTelemetry tracing: set up from the standard OTEL_* variables, off when none is set.

A message is one trace from the start request to its counted outcome: the trace
context travels in each Kafka record's headers (shared/events/codec.py writes
them), and each consumer continues it with :func:`consuming`. Without an OTLP
endpoint no span is recorded or exported, yet the context still travels, so
turning tracing on in one service never breaks a trace in another.

Campaign and batch spans are always kept. Per-message spans are sampled
(shared/trace_sampling.py): open them with :func:`message_span` (or
``consuming(..., message=True)``). A failed message is always traced:
:func:`trace_failure`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from shared.trace_sampling import (
    FAILURE,
    MESSAGE_ATTRIBUTES,
    SPAN_LEVEL,
    check_sampler_settings,
)

log = logging.getLogger(__name__)

VERSION = "0.1.0"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Context key: the nearest sampled context around an unsampled message span, where a
# failure span of that message goes.
_SAMPLED_AROUND = otel_context.create_key("campaign_queue.sampled_around")
# Context key: the unsampled message span that decided so, which a failure span links to.
_DROPPED_MESSAGE = otel_context.create_key("campaign_queue.dropped_message")

_provider: TracerProvider | None = None

Headers = Sequence[tuple[str, bytes]] | Mapping[str, bytes]


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def setup_tracing(service_name: str) -> None:
    """Export spans over OTLP (HTTP/protobuf) when an endpoint is configured.

    A bad OTEL_TRACES_SAMPLER or OTEL_TRACES_SAMPLER_ARG stops the process, even
    without an endpoint: the mistake shows before the day tracing is turned on.
    """
    global _provider
    sampler = check_sampler_settings()
    if _provider is not None or not tracing_enabled():
        return
    # Imported here: without an endpoint the exporter is never needed.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name,
            "service.version": VERSION,
            "service.namespace": "campaign-queue",
        }
    )
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info(
        "tracing on: spans exported over OTLP",
        extra={"service_name": service_name, "sampler": sampler.get_description()},
    )


def instrument_redis() -> None:
    """Spans for Redis commands (the ledger, the limiter, the folds), when tracing is on."""
    if _provider is not None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument()


def shutdown_tracing() -> None:
    """Flush what is buffered; a stopping service must not drop its last spans."""
    if _provider is not None:
        _provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name, VERSION)


def _campaign_tracer() -> trace.Tracer:
    return trace.get_tracer("campaign_queue", VERSION)


def is_no_op(tracer: trace.Tracer) -> bool:
    """Whether spans of ``tracer`` go nowhere: no tracer provider is set."""
    if isinstance(tracer, trace.NoOpTracer):
        return True
    # trace.get_tracer_provider() reads os.environ each call (µs): look at what it would
    # return. Should the API rename its global, this says "not no-op", which is safe.
    return isinstance(tracer, trace.ProxyTracer) and getattr(trace, "_TRACER_PROVIDER", 1) is None


def _sampled_around(ctx: Context) -> Context | None:
    """``ctx`` if its span is sampled, else the sampled context an enclosing message span saw."""
    span_context = trace.get_current_span(ctx).get_span_context()
    if span_context.is_valid and span_context.trace_flags.sampled:
        return ctx
    return otel_context.get_value(_SAMPLED_AROUND, ctx)  # type: ignore[return-value]


class _CurrentSpan:
    """What a no-op message span amounts to: the span already current, nothing to end."""

    def __enter__(self) -> Span:
        return trace.get_current_span()

    def __exit__(self, *_: object) -> None:
        return None


_CURRENT_SPAN = _CurrentSpan()


def message_span(
    tracer: trace.Tracer,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    context: Context | None = None,
    links: Sequence[Link] | None = None,
) -> AbstractContextManager[Span]:
    """The current span for one message's work, sampled at the configured ratio.

    Like ``tracer.start_as_current_span`` with ``campaign.span_level=message`` added to
    ``attributes``, so that the sampler sees it. The span is a child of ``context``
    (default: the current one). Unsampled, it records nothing and its children are
    dropped, but its context (flag 00) still travels in the headers written inside it.
    An exception out of an unsampled message span is traced with :func:`trace_failure`.
    """
    if context is None and is_no_op(tracer):
        # Tracing off: no generator to run for each message (a few µs, twice a send).
        return _CURRENT_SPAN
    return _message_span(
        tracer, name, kind=kind, attributes=attributes, context=context, links=links
    )


@contextmanager
def _message_span(
    tracer: trace.Tracer,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    context: Context | None = None,
    links: Sequence[Link] | None = None,
) -> Iterator[Span]:
    if is_no_op(tracer):
        # Tracing off, under a given context: what the no-op tracer's span would do.
        token = otel_context.attach(context)  # type: ignore[arg-type]
        try:
            yield trace.get_current_span(context)
        finally:
            otel_context.detach(token)
        return
    current = otel_context.get_current()
    parent = current if context is None else context
    span = tracer.start_span(
        name,
        context=parent,
        kind=kind,
        attributes={**(attributes or {}), **MESSAGE_ATTRIBUTES},
        links=links,
    )
    ctx = trace.set_span_in_context(span, parent)
    if not span.get_span_context().trace_flags.sampled:
        around = _sampled_around(parent)
        if around is None and context is not None:
            around = _sampled_around(current)
        if around is not None:
            ctx = otel_context.set_value(_SAMPLED_AROUND, around, ctx)
        if otel_context.get_value(_DROPPED_MESSAGE, parent) is None:
            ctx = otel_context.set_value(_DROPPED_MESSAGE, span.get_span_context(), ctx)
    token = otel_context.attach(ctx)
    try:
        yield span
    except Exception as error:
        if span.is_recording():
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        else:
            trace_failure(name, dict(attributes or {}), error=error, tracer=tracer)
        raise
    finally:
        span.end()
        otel_context.detach(token)


def trace_failure(
    name: str,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    *,
    error: BaseException | str | None = None,
    headers: Headers | None = None,
    tracer: trace.Tracer | None = None,
) -> None:
    """Record a failed message as a span that is always sampled.

    Call it where a message fails, sampled or not: inside its sampled message span the
    failure span is that span's child; inside an unsampled one it is a child of the
    nearest sampled span around it (the batch's), linked to the message's span; with
    no sampled span around, it is a root. ``headers``: the failed record's, to link to
    the message's trace when that is not sampled (a consumer without message span).
    ``error``: an exception (recorded as an event) or a description; the span's status
    is ERROR either way.
    """
    tracer = tracer or _campaign_tracer()
    if is_no_op(tracer):
        return
    current = otel_context.get_current()
    current_span = trace.get_current_span(current).get_span_context()
    parent = _sampled_around(current)
    links: list[Link] = []
    if current_span.is_valid and not current_span.trace_flags.sampled:
        # Link the message span that was not sampled (the span current here may be a
        # dropped child of it).
        dropped = otel_context.get_value(_DROPPED_MESSAGE, current)
        links.append(Link(dropped if isinstance(dropped, trace.SpanContext) else current_span))
    if headers is not None and not is_sampled(headers):
        remote = trace.get_current_span(propagate.extract(_carrier(headers))).get_span_context()
        if remote.is_valid:
            links.append(Link(remote))
    span = tracer.start_span(
        name,
        context=parent if parent is not None else Context(),
        attributes={**(attributes or {}), SPAN_LEVEL: FAILURE},
        links=links,
    )
    if isinstance(error, BaseException):
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__name__)
        description = f"{type(error).__name__}: {error}"
    else:
        description = error or "failed"
    span.set_status(Status(StatusCode.ERROR, description))
    span.end()


# W3C Trace Context: "version-trace_id-parent_id-flags"; bit 0 of the flags is "sampled".
_FLAGS = slice(53, 55)
_DASHES = (2, 35, 52)


def is_sampled(headers: Headers | None) -> bool:
    """Whether a record's ``traceparent`` header says sampled (flag 01): a header look-up.

    For a consumer that opens a per-record span only for sampled messages. A record
    written inside a message span carries that span's decision.
    """
    if not headers:
        return False
    if isinstance(headers, Mapping):
        value = headers.get("traceparent")
    else:
        value = next((v for k, v in headers if k == "traceparent"), None)
    if value is None:
        return False
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if len(value) < 55 or any(value[i] != "-" for i in _DASHES):
        return False
    try:
        return int(value[_FLAGS], 16) & 0x01 == 0x01
    except ValueError:
        return False


def _carrier(headers: Headers | None) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return {
        key: value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        for key, value in pairs
    }


@contextmanager
def consuming(
    name: str,
    headers: Headers | None,
    *,
    topic: str,
    attributes: Mapping[str, str | int] | None = None,
    message: bool = False,
) -> Iterator[Span]:
    """A consumer span continuing the trace whose context a record's headers carry.

    ``message=True``: the record is one message, and its span a :func:`message_span`.
    """
    parent = propagate.extract(_carrier(headers))
    span_attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        **(attributes or {}),
    }
    if message:
        with message_span(
            tracer("campaign_queue"),
            name,
            kind=SpanKind.CONSUMER,
            attributes=span_attributes,
            context=parent,
        ) as span:
            yield span
        return
    with tracer("campaign_queue").start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=span_attributes
    ) as span:
        yield span
