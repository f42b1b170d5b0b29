"""Spans of the metrics folds: one a poll batch always, one a result only when sampled.

A span a result cost more CPU than folding it. So the batch span says what the
service did with each poll batch, and a result gets a span of its own only when
its producer sampled its trace (trace flags 01 in its ``traceparent`` header), as a
parent-based sampler would decide: a sampled message's trace still runs from the
start request to its counted outcome, and an unsampled one costs a header look-up.
A result's span links to its batch's span. Spans are exported in the background;
a crash loses spans, never results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from shared.trace_sampling import MESSAGE_ATTRIBUTES
from shared.tracing import is_no_op, is_sampled
from shared.tracing import tracer as service_tracer

TRACER_NAME = "campaign_queue"
Headers = Sequence[tuple[str, bytes]]


def _messaging(topic: str) -> dict[str, str | int]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
    }


class BatchSpans:
    """The span of a poll batch (current while it is folded) and of its sampled results.

    Result spans open when their record is decoded and end with the batch, so they
    cover the fold; an error out of the batch marks them all.
    """

    def __init__(
        self, name: str, *, topic: str, records: int, tracer: trace.Tracer | None = None
    ) -> None:
        self._tracer = tracer or service_tracer(TRACER_NAME)
        self._topic = topic
        # Without a tracer provider (no OTLP endpoint) the tracer is a proxy to a no-op
        # one: skip even extracting the parent contexts.
        self._exporting = not is_no_op(self._tracer)
        self._results: list[Span] = []
        self._batch = self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CONSUMER,
            attributes={**_messaging(topic), "messaging.batch.message_count": records},
        )
        self._links: list[Link] = []

    def __enter__(self) -> BatchSpans:
        span = self._batch.__enter__()
        if span.get_span_context().is_valid:
            self._links = [Link(span.get_span_context())]
        return self

    def result(self, name: str, headers: Headers | None, attributes: Mapping[str, str]) -> None:
        """Open a result's span, continuing its trace, when that trace is sampled."""
        if not self._exporting or not is_sampled(headers):
            return
        carrier = {key: value.decode("utf-8", "replace") for key, value in headers or ()}
        self._results.append(
            self._tracer.start_span(
                name,
                context=propagate.extract(carrier),
                kind=SpanKind.CONSUMER,
                attributes={**_messaging(self._topic), **attributes, **MESSAGE_ATTRIBUTES},
                links=self._links,
            )
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        for span in self._results:
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
            span.end()
        return self._batch.__exit__(kind, error, traceback)
