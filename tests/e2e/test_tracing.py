"""One message, one trace: api → dispatcher → sender (the Twilio call) → metrics, exported
over OTLP to a receiver inside the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    start,
    valid_phone,
    wait_finished,
)
from tests.helpers import eventually_sync


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, object]


@dataclass
class OtlpReceiver:
    """Accepts OTLP/HTTP protobuf trace exports, as a collector would, and keeps the spans."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


def _value(value) -> object:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[OtlpReceiver, str]]:
    receiver = OtlpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/traces":
                receiver.take(body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # Four services export at once: the default backlog of 5 refused some of them.
        request_queue_size = 128
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds


def _traced_system(make_system, sandbox_admin, endpoint: str, *, ratio: str):
    """The system exporting spans to ``endpoint``, keeping ``ratio`` of message spans."""
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    return make_system(
        otel_exporter_otlp_endpoint=endpoint,
        otel_exporter_otlp_protocol="http/protobuf",
        otel_bsp_schedule_delay=100,
        otel_traces_sampler_arg=ratio,
        **FAST,
    )


def test_one_message_is_one_trace_across_the_four_services(
    make_system, sandbox_admin, otlp_receiver
):
    receiver, endpoint = otlp_receiver
    # Every message traced: the default samples one message span in a hundred.
    system = _traced_system(make_system, sandbox_admin, endpoint, ratio="1.0")
    with system.client() as client:
        campaign = create_campaign(client, "traced", [valid_phone(7)])
        start(client, campaign["id"])
        wait_finished(client, campaign["id"], timeout_s=60)

    def whole_trace() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        twilio = [s for s in spans if s.name == "POST /Messages"]
        if not twilio:
            return None
        trace = [s for s in spans if s.trace_id == twilio[0].trace_id]
        services = {s.service for s in trace}
        folded = any(s.service == "metrics" and s.name.startswith("fold") for s in trace)
        # Services export in batches of their own: wait until every parent has arrived.
        ids = {s.span_id for s in trace}
        complete = all(not s.parent_id or s.parent_id in ids for s in trace)
        return (
            trace if {"api", "dispatcher", "sender"} <= services and folded and complete else None
        )

    trace = eventually_sync(whole_trace, timeout_s=60, what="a whole trace through four services")
    by_id = {span.span_id: span for span in trace}
    roots = [span for span in trace if not span.parent_id]
    assert len(roots) == 1 and roots[0].service == "api" and roots[0].kind == SERVER
    orphans = [s.name for s in trace if s.parent_id and s.parent_id not in by_id]
    assert orphans == [], f"spans whose parent is not in the trace: {orphans}"

    def chain(span: ReceivedSpan) -> list[str]:
        names = [f"{span.service}:{span.name}"]
        while span.parent_id:
            span = by_id[span.parent_id]
            names.append(f"{span.service}:{span.name}")
        return names

    fold = next(s for s in trace if s.service == "metrics" and s.name.startswith("fold"))
    path = chain(fold)
    print(" <- ".join(path))
    services_on_path = [name.split(":")[0] for name in path]
    assert services_on_path[0] == "metrics" and services_on_path[-1] == "api"
    assert {"sender", "dispatcher"} <= set(services_on_path)

    twilio = next(s for s in trace if s.name == "POST /Messages")
    assert twilio.kind == CLIENT and twilio.service == "sender"
    for attribute in ("http.request.method", "url.full", "server.address"):
        assert attribute in twilio.attributes, attribute
    assert twilio.attributes["http.response.status_code"] == 201
    assert twilio.attributes["campaign.id"] == campaign["id"]
    batch = next(s for s in trace if s.name == "emit batch")
    assert batch.kind == PRODUCER and batch.attributes["messaging.system"] == "kafka"
    consumers = [s for s in trace if s.kind == CONSUMER]
    assert {s.service for s in consumers} >= {"dispatcher", "sender", "metrics"}
    assert all(s.attributes.get("messaging.destination.name") for s in consumers)


def test_unsampled_messages_leave_batch_spans_and_every_failure_traced(
    make_system, sandbox_admin, otlp_receiver
):
    """At ratio 0 no message has spans of its own, yet batches and failures are traced."""
    receiver, endpoint = otlp_receiver
    system = _traced_system(make_system, sandbox_admin, endpoint, ratio="0")
    phones = [valid_phone(i) for i in range(10)] + [invalid_phone(1), invalid_phone(2)]
    with system.client() as client:
        campaign = create_campaign(client, "sampled out", phones)
        start(client, campaign["id"])
        wait_finished(client, campaign["id"], timeout_s=60)

    def traced() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        failures = [
            s
            for s in spans
            if s.name == "message failed" and s.attributes.get("campaign.id") == campaign["id"]
        ]
        folded = any(s.service == "metrics" and s.name.endswith("batch") for s in spans)
        # The sender's batch span ends after its failures' spans; each is exported on its own tick.
        sent = any(s.service == "sender" and s.name == "process SendMessageBatch" for s in spans)
        return spans if len(failures) == 2 and folded and sent else None

    spans = eventually_sync(traced, timeout_s=60, what="the failures' and batches' spans")
    failures = [s for s in spans if s.name == "message failed"]
    assert len(failures) == 2 and all(s.service == "sender" for s in failures)
    assert {s.attributes["twilio.error_code"] for s in failures} == {21211}
    # No message span was kept: neither the sends nor their requests nor their folds.
    message_spans = [
        s.name
        for s in spans
        if s.name in ("send message", "POST /Messages") or s.name.startswith("fold Message")
    ]
    assert message_spans == []
