"""Which spans are kept: campaign and batch spans always, a share of each message's.

A span per message in four services would cost more CPU than the work it
describes, so spans opened as a message's (``campaign.span_level=message``, see
shared/tracing.py ``message_span``) are kept at the ratio ``OTEL_TRACES_SAMPLER_ARG``.
The decision travels with the trace context (the ``sampled`` flag of
``traceparent``, and ``cq=m`` in ``tracestate``), so what a message causes
downstream, in any service, follows it.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    DEFAULT_OFF,
    Decision,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

SAMPLER_VARIABLE = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG_VARIABLE = "OTEL_TRACES_SAMPLER_ARG"

# The span attribute, given when a span starts, that tells the sampler what it is.
SPAN_LEVEL = "campaign.span_level"
MESSAGE = "message"  # one message's work: sampled at the ratio
FAILURE = "failure"  # a failed message: always sampled
MESSAGE_ATTRIBUTES: Mapping[str, str] = {SPAN_LEVEL: MESSAGE}

# The share of messages traced when OTEL_TRACES_SAMPLER_ARG is not set. Measured on
# this 2-core machine (busy with other work: compare the rows, not the absolutes):
# 100,000 message_span()s, each a child of a sampled batch span, ended into a
# BatchSpanProcessor whose exporter encodes them as OTLP protobuf and drops the
# bytes; process CPU including the export thread, best of 5 runs, µs a span:
#   no tracer provider (tracing off)    1.6
#   ratio 0 (every one dropped)         6.6
#   ratio 0.01                          7.0
#   ratio 0.05                          9.6
#   ratio 1 (every one exported)       64.6   (a plain start_as_current_span: 61.3)
# A message has three or four such spans (the sender's "send message" and "POST
# /Messages", the metrics' fold, Redis calls under them), so tracing every message
# costs about 0.2 ms of CPU, a third of the 0.6 ms a message may cost in all four
# services. At 0.01 a span costs 0.4 µs more than a dropped one; at 0.05, 3 µs. 0.01
# still traces 15 messages a second at 1,500 msg/s, and every failed one besides.
DEFAULT_MESSAGE_RATIO = 0.01

# tracestate entry of a context whose message span was sampled: spans below it, in
# this process or another one reached through Kafka, follow that decision.
_STATE_KEY = "cq"
_STATE_MESSAGE = "m"
_MARKED = TraceState([(_STATE_KEY, _STATE_MESSAGE)])


class SamplerSettingError(ValueError):
    """OTEL_TRACES_SAMPLER or OTEL_TRACES_SAMPLER_ARG has a value we cannot use."""


class MessageSampler(Sampler):
    """Keeps campaign and batch spans, and a share ``ratio`` of the per-message spans.

    - A span started with ``campaign.span_level=message`` (see :func:`message_span`)
      under a sampled parent is sampled with probability ``ratio``, decided anew for
      each span, unless its parent is itself within a sampled message (``cq=m`` in
      its tracestate): then it follows that decision. A sampled message span marks
      its tracestate so.
    - A span with ``campaign.span_level=failure`` is always sampled.
    - Any other span follows its parent (parent-based); a root span is sampled.
    - A child of an unsampled span is dropped, whatever its level: what a message
      does downstream follows its decision, carried by the ``traceparent`` flag.
    """

    def __init__(self, ratio: float, draw: Callable[[], float] = random.random) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be from 0 to 1, not {ratio!r}")
        self.ratio = ratio
        self._draw = draw

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        level = attributes.get(SPAN_LEVEL) if attributes else None
        state = parent.trace_state if parent.is_valid else None
        if level == FAILURE:
            sampled = True
        elif parent.is_valid and not parent.trace_flags.sampled:
            sampled = False
        elif level == MESSAGE and not (state and state.get(_STATE_KEY) == _STATE_MESSAGE):
            sampled = self.ratio >= 1.0 or self._draw() < self.ratio
            if sampled:
                if not state:
                    state = _MARKED
                elif _STATE_KEY in state:
                    state = state.update(_STATE_KEY, _STATE_MESSAGE)
                else:
                    state = state.add(_STATE_KEY, _STATE_MESSAGE)
        else:
            sampled = True
        if sampled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return SamplingResult(Decision.DROP, None, state)

    def get_description(self) -> str:
        return f"MessageSampler{{ratio={self.ratio}}}"


def sampler_from_env(environ: Mapping[str, str] = os.environ) -> Sampler:
    """The sampler that OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG ask for.

    unset, ``parentbased_traceidratio``, ``traceidratio``: :class:`MessageSampler`
    with the ratio OTEL_TRACES_SAMPLER_ARG (default :data:`DEFAULT_MESSAGE_RATIO`);
    ``always_on``, ``parentbased_always_on``: every message (ratio 1);
    ``always_off``, ``parentbased_always_off``: the SDK's samplers of those names.
    Raises :class:`SamplerSettingError` naming the variable for anything else.
    """
    name = environ.get(SAMPLER_VARIABLE, "").strip().lower()
    if name in ("", "parentbased_traceidratio", "traceidratio"):
        return MessageSampler(_ratio(environ.get(SAMPLER_ARG_VARIABLE, "")))
    if name in ("always_on", "parentbased_always_on"):
        return MessageSampler(1.0)
    if name == "always_off":
        return ALWAYS_OFF
    if name == "parentbased_always_off":
        return DEFAULT_OFF
    raise SamplerSettingError(
        f"{SAMPLER_VARIABLE}: must be parentbased_traceidratio, traceidratio, always_on,"
        f" parentbased_always_on, always_off or parentbased_always_off"
        f" (got {environ[SAMPLER_VARIABLE]!r})"
    )


def _ratio(text: str) -> float:
    if not text.strip():
        return DEFAULT_MESSAGE_RATIO
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:  # also NaN
        raise SamplerSettingError(
            f"{SAMPLER_ARG_VARIABLE}: must be a number from 0 to 1, the share of messages"
            f" traced (got {text!r})"
        )
    return ratio


def check_sampler_settings(environ: Mapping[str, str] = os.environ) -> Sampler:
    """The configured sampler, or stop the process with one line naming the bad variable.

    :func:`setup_tracing` calls it; a process that starts workers which set up tracing
    themselves (the api's supervisor) should call it first, so that a bad value stops
    the process instead of every worker it starts.
    """
    try:
        return sampler_from_env(environ)
    except SamplerSettingError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
