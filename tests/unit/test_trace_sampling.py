"""Sampling of per-message spans: batch spans always, message spans at a ratio, failures always."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_OFF
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.span import TraceState

from shared import tracing
from shared.events.codec import trace_headers
from shared.trace_sampling import (
    DEFAULT_MESSAGE_RATIO,
    SPAN_LEVEL,
    MessageSampler,
    SamplerSettingError,
    check_sampler_settings,
    sampler_from_env,
)
from shared.tracing import (
    consuming,
    is_sampled,
    message_span,
    trace_failure,
)


class Service:
    """One service's tracer provider, exporting into memory."""

    def __init__(self, ratio: float, draws: list[float] | None = None) -> None:
        draw = iter(draws).__next__ if draws is not None else None
        sampler = MessageSampler(ratio, draw) if draw else MessageSampler(ratio)
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def names(self) -> list[str]:
        return [span.name for span in self.exporter.get_finished_spans()]

    def span(self, name: str) -> ReadableSpan:
        (found,) = [s for s in self.exporter.get_finished_spans() if s.name == name]
        return found


@pytest.fixture
def no_global_provider() -> Iterator[None]:
    if getattr(trace, "_TRACER_PROVIDER", None) is not None:
        pytest.skip("a global tracer provider is set in this process")
    yield


def test_at_ratio_0_the_batch_span_is_kept_and_its_message_spans_are_not() -> None:
    service = Service(0.0)
    with service.tracer.start_as_current_span("emit batch"):
        for contact in range(20):
            with message_span(service.tracer, "send message", attributes={"c": contact}) as span:
                assert not span.get_span_context().trace_flags.sampled
                with service.tracer.start_as_current_span("POST /Messages"):
                    pass
    assert service.names() == ["emit batch"]


def test_at_ratio_1_every_message_span_is_kept_marked_as_a_message() -> None:
    service = Service(1.0)
    with service.tracer.start_as_current_span("emit batch") as batch:
        with message_span(
            service.tracer, "send message", kind=SpanKind.PRODUCER, attributes={"campaign.id": "c"}
        ):
            with service.tracer.start_as_current_span("POST /Messages"):
                pass
    assert service.names() == ["POST /Messages", "send message", "emit batch"]
    message = service.span("send message")
    assert message.attributes == {"campaign.id": "c", SPAN_LEVEL: "message"}
    assert message.kind is SpanKind.PRODUCER
    assert message.parent.span_id == batch.get_span_context().span_id
    assert message.context.trace_state.get("cq") == "m"
    assert service.span("POST /Messages").parent.span_id == message.context.span_id


def test_each_message_span_is_decided_on_its_own_under_one_batch_span() -> None:
    service = Service(0.5, draws=[0.1, 0.9, 0.4, 0.6])
    with service.tracer.start_as_current_span("emit batch"):
        for contact in range(4):
            with message_span(service.tracer, f"send {contact}"):
                pass
    assert service.names() == ["send 0", "send 2", "emit batch"]


def test_the_ratio_is_the_share_of_message_spans_kept() -> None:
    service = Service(0.2)
    with service.tracer.start_as_current_span("emit batch"):
        for _ in range(5_000):
            with message_span(service.tracer, "send message"):
                pass
    kept = service.names().count("send message")
    assert 800 < kept < 1_200  # 1,000 expected, sd about 28


def test_a_message_span_within_a_sampled_message_follows_it() -> None:
    # The second draw would drop the inner span if it were decided again.
    service = Service(0.5, draws=[0.1, 0.9])
    with service.tracer.start_as_current_span("emit batch"):
        with message_span(service.tracer, "send message"):
            with message_span(service.tracer, "POST /Messages"):
                pass
    assert service.names() == ["POST /Messages", "send message", "emit batch"]


def test_the_children_of_an_unsampled_message_span_are_dropped_whatever_their_level() -> None:
    service = Service(0.0)
    with service.tracer.start_as_current_span("emit batch"):
        with message_span(service.tracer, "send message"):
            with service.tracer.start_as_current_span("redis EVALSHA"):
                pass
    # A message span under it at ratio 1 (another sampler) still follows the parent's flag.
    other = Service(1.0)
    with service.tracer.start_as_current_span("emit batch 2"):
        with message_span(service.tracer, "send message"):
            with message_span(other.tracer, "POST /Messages"):
                pass
            with other.tracer.start_as_current_span("plain child"):
                pass
    assert service.names() == ["emit batch", "emit batch 2"]
    assert other.names() == []


def test_campaign_and_batch_spans_are_kept_at_ratio_0() -> None:
    service = Service(0.0)
    with service.tracer.start_as_current_span("POST /api/campaigns/{id}/start"):
        with service.tracer.start_as_current_span("process CampaignStarted"):
            with service.tracer.start_as_current_span("emit batch"):
                pass
    assert service.names() == [
        "emit batch",
        "process CampaignStarted",
        "POST /api/campaigns/{id}/start",
    ]


def test_a_root_message_span_is_sampled_at_the_ratio() -> None:
    assert (
        Service(0.0).tracer.start_span("m", attributes={SPAN_LEVEL: "message"}).is_recording()
        is False
    )
    assert Service(1.0).tracer.start_span("m", attributes={SPAN_LEVEL: "message"}).is_recording()


def test_the_sampler_keeps_what_else_the_parent_tracestate_carries() -> None:
    service = Service(1.0)
    parent = trace.SpanContext(
        trace_id=0x1234,
        span_id=0x5678,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "x")]),
    )
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    with message_span(service.tracer, "send message", context=context) as span:
        state = span.get_span_context().trace_state
    assert state.get("vendor") == "x" and state.get("cq") == "m"


def _headers_of(span_context: trace.SpanContext) -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    propagate.inject(
        carrier, context=trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    )
    return [(key, value.encode()) for key, value in carrier.items()]


def test_a_message_decision_travels_through_kafka_headers_to_another_service() -> None:
    # The sender decides per message; the metrics service, whatever its ratio, follows.
    sender = Service(0.5, draws=[0.1, 0.9])
    metrics = Service(0.0)
    records = []
    with sender.tracer.start_as_current_span("process SendMessageBatch"):
        for contact in ("a", "b"):
            with message_span(sender.tracer, f"send {contact}"):
                records.append((contact, trace_headers()))
    sampled_headers, unsampled_headers = records[0][1], records[1][1]
    assert is_sampled(sampled_headers) and not is_sampled(unsampled_headers)
    assert ("tracestate", b"cq=m") in sampled_headers

    every_fold = Service(1.0)  # a metrics service tracing every message still follows
    for service in (metrics, every_fold):
        with service.tracer.start_as_current_span("fold batch"):
            for contact, headers in records:
                parent = propagate.extract({k: v.decode() for k, v in headers})
                with message_span(service.tracer, f"fold {contact}", context=parent):
                    pass
        assert service.names() == ["fold a", "fold batch"]
    fold = metrics.span("fold a")
    send = sender.span("send a")
    assert fold.context.trace_id == send.context.trace_id
    assert fold.parent.span_id == send.context.span_id


def test_an_unmarked_sampled_parent_from_another_service_is_decided_at_the_ratio() -> None:
    # A record written under a batch span (sampled, no message decision yet).
    dispatcher = Service(0.0)
    with dispatcher.tracer.start_as_current_span("emit batch"):
        headers = trace_headers()
    assert is_sampled(headers)
    sender = Service(0.0)
    parent = propagate.extract({k: v.decode() for k, v in headers})
    with message_span(sender.tracer, "send message", context=parent):
        pass
    assert sender.names() == []
    sender = Service(1.0)
    with message_span(sender.tracer, "send message", context=parent):
        pass
    assert sender.names() == ["send message"]


def test_a_failed_message_is_traced_at_ratio_0_under_its_batch_span() -> None:
    service = Service(0.0)
    with service.tracer.start_as_current_span("emit batch") as batch:
        with message_span(service.tracer, "send message") as message:
            with service.tracer.start_as_current_span("dropped child"):
                trace_failure(
                    "message failed",
                    {"campaign.id": "c", "twilio.error_code": 63016},
                    error="63016: outside the window",
                    tracer=service.tracer,
                )
    assert service.names() == ["message failed", "emit batch"]
    failure = service.span("message failed")
    assert failure.parent.span_id == batch.get_span_context().span_id
    assert failure.context.trace_id == batch.get_span_context().trace_id
    assert failure.status.status_code is StatusCode.ERROR
    assert failure.status.description == "63016: outside the window"
    assert failure.attributes[SPAN_LEVEL] == "failure"
    assert failure.attributes["twilio.error_code"] == 63016
    assert message.get_span_context().span_id in {link.context.span_id for link in failure.links}


def test_a_failed_message_within_a_sampled_message_span_is_its_child() -> None:
    service = Service(1.0)
    with service.tracer.start_as_current_span("emit batch"):
        with message_span(service.tracer, "send message") as message:
            trace_failure("message failed", error=ValueError("bad number"), tracer=service.tracer)
    failure = service.span("message failed")
    assert failure.parent.span_id == message.get_span_context().span_id
    assert failure.links == ()
    assert failure.attributes["error.type"] == "ValueError"
    assert [event.name for event in failure.events] == ["exception"]


def test_an_exception_out_of_an_unsampled_message_span_is_traced() -> None:
    service = Service(0.0)
    with pytest.raises(RuntimeError, match="boom"):
        with service.tracer.start_as_current_span("emit batch") as batch:
            with message_span(service.tracer, "send message", attributes={"campaign.id": "c"}):
                raise RuntimeError("boom")
    assert service.names() == ["send message", "emit batch"]
    failure = service.span("send message")
    assert dict(failure.attributes) == {
        "campaign.id": "c",
        SPAN_LEVEL: "failure",
        "error.type": "RuntimeError",
    }
    assert failure.parent.span_id == batch.get_span_context().span_id
    assert failure.status.status_code is StatusCode.ERROR


def test_an_exception_out_of_a_sampled_message_span_marks_it() -> None:
    service = Service(1.0)
    with pytest.raises(RuntimeError):
        with message_span(service.tracer, "send message"):
            raise RuntimeError("boom")
    (span,) = service.exporter.get_finished_spans()
    assert span.attributes[SPAN_LEVEL] == "message"
    assert span.status.status_code is StatusCode.ERROR


def test_a_failure_of_an_unsampled_record_links_to_its_trace() -> None:
    # The metrics service folds a failed result whose message was not sampled.
    sender = Service(0.0)
    with sender.tracer.start_as_current_span("process SendMessageBatch"):
        with message_span(sender.tracer, "send message") as message:
            headers = trace_headers()
    assert not is_sampled(headers)
    metrics = Service(0.0)
    with metrics.tracer.start_as_current_span("fold batch") as batch:
        trace_failure("fold MessageFailed", headers=headers, tracer=metrics.tracer)
    failure = metrics.span("fold MessageFailed")
    assert failure.parent.span_id == batch.get_span_context().span_id
    assert [link.context.span_id for link in failure.links] == [message.get_span_context().span_id]


def test_a_failure_with_no_sampled_span_around_is_a_root() -> None:
    service = Service(0.0)
    with message_span(service.tracer, "send message"):  # a root, dropped at ratio 0
        trace_failure("message failed", tracer=service.tracer)
    (failure,) = service.exporter.get_finished_spans()
    assert failure.parent is None and len(failure.links) == 1


def test_without_a_tracer_provider_the_context_still_travels(no_global_provider: None) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [("traceparent", traceparent.encode())]
    with consuming("process SendMessageBatch", headers, topic="t", message=True) as span:
        assert not span.is_recording()
        assert dict(trace_headers())["traceparent"] == traceparent.encode()
        with message_span(tracing.tracer("x"), "send message"):
            assert dict(trace_headers())["traceparent"] == traceparent.encode()
        trace_failure("message failed")  # nowhere to go, and no error
    with consuming("process SendMessageBatch", headers, topic="t"):
        assert dict(trace_headers())["traceparent"] == traceparent.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", True),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", False),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", False),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz", False),
        (b"00-nonsense", False),
        (b"00-" + b"z" * 49 + b"-01", False),
        (b"", False),
    ],
)
def test_is_sampled_reads_the_flag_of_traceparent(value: bytes | str, expected: bool) -> None:
    assert is_sampled([("ce_id", b"x"), ("traceparent", value)]) is expected
    assert is_sampled({"traceparent": value}) is expected


def test_is_sampled_without_a_traceparent() -> None:
    assert not is_sampled(None)
    assert not is_sampled([])
    assert not is_sampled([("ce_id", b"x")])


@pytest.mark.parametrize(
    ("environ", "ratio"),
    [
        ({}, DEFAULT_MESSAGE_RATIO),
        ({"OTEL_TRACES_SAMPLER_ARG": "0.25"}, 0.25),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}, DEFAULT_MESSAGE_RATIO),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": " 0 "}, 0.0),
        ({"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 1.0),
    ],
)
def test_the_sampler_from_the_environment(environ: dict[str, str], ratio: float) -> None:
    sampler = sampler_from_env(environ)
    assert isinstance(sampler, MessageSampler)
    assert sampler.ratio == ratio


def test_always_off_samplers_are_the_sdk_ones() -> None:
    assert sampler_from_env({"OTEL_TRACES_SAMPLER": "always_off"}) is ALWAYS_OFF
    assert sampler_from_env({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}) is DEFAULT_OFF


def test_the_default_ratio_is_a_small_share() -> None:
    assert 0 < DEFAULT_MESSAGE_RATIO <= 0.05 and not math.isnan(DEFAULT_MESSAGE_RATIO)


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1", "nan", "inf", "1/2"])
def test_a_bad_ratio_names_the_variable(value: str) -> None:
    with pytest.raises(SamplerSettingError, match=r"^OTEL_TRACES_SAMPLER_ARG: .*got") as raised:
        sampler_from_env(
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": value}
        )
    assert repr(value) in str(raised.value)


def test_an_unknown_sampler_names_the_variable() -> None:
    with pytest.raises(SamplerSettingError, match=r"^OTEL_TRACES_SAMPLER: .*'jaeger_remote'"):
        sampler_from_env({"OTEL_TRACES_SAMPLER": "jaeger_remote"})


def test_a_bad_setting_stops_the_service_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "lots")
    with pytest.raises(SystemExit) as stopped:
        tracing.setup_tracing("sender")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("configuration error: OTEL_TRACES_SAMPLER_ARG: ")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.05")
    assert isinstance(check_sampler_settings(), MessageSampler)
    tracing.setup_tracing("sender")  # no endpoint: nothing set up, no exit


def test_the_sampler_keeps_a_failure_span_even_under_an_unsampled_parent() -> None:
    unsampled = trace.SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True)
    context = trace.set_span_in_context(trace.NonRecordingSpan(unsampled))
    sampler = MessageSampler(0.0)
    failure = sampler.should_sample(context, 0x1234, "f", attributes={SPAN_LEVEL: "failure"})
    other = sampler.should_sample(context, 0x1234, "f", attributes={"campaign.id": "c"})
    assert failure.decision.is_sampled() and failure.attributes[SPAN_LEVEL] == "failure"
    assert not other.decision.is_recording()
