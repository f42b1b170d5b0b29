"""OpenTelemetry tracing: set up from the standard OTEL_* variables, off when none is set.

A message is one trace from the start request to its counted outcome: the trace
context travels in each Kafka record's headers (shared/events/codec.py writes
them), and each consumer continues it with :func:`consuming`. Without an OTLP
endpoint no span is recorded or exported, yet the context still travels, so
turning tracing on in one service never breaks a trace in another.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind

log = logging.getLogger(__name__)

VERSION = "0.1.0"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_provider: TracerProvider | None = None


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def setup_tracing(service_name: str) -> None:
    """Export spans over OTLP (HTTP/protobuf) when an endpoint is configured."""
    global _provider
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
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on: spans exported over OTLP", extra={"service_name": service_name})


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


@contextmanager
def consuming(
    name: str,
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None,
    *,
    topic: str,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A consumer span continuing the trace whose context a record's headers carry."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    carrier = {key: value.decode("utf-8", "replace") for key, value in pairs}
    parent = propagate.extract(carrier)
    with tracer("campaign_queue").start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            **(attributes or {}),
        },
    ) as span:
        yield span
