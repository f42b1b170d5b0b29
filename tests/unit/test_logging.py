"""Log lines: JSON, with trace and span ids inside a span, and never a secret."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from shared.logging import configure_logging, register_secret


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _capture() -> io.StringIO:
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def test_a_line_logged_in_a_span_names_its_trace_and_span() -> None:
    configure_logging("unit")
    stream = _capture()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("unit").info("inside", extra={"campaign_id": "c1"})
    logging.getLogger("unit").info("outside")
    inside, outside = _lines(stream)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["campaign_id"] == "c1" and inside["service"] == "unit"
    assert "trace_id" not in outside


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    secret = "s3cr3t-auth-token-value"
    register_secret(secret)
    configure_logging("unit")
    stream = _capture()
    log = logging.getLogger("unit")
    log.warning(f"calling with {secret}", extra={"url": f"https://x:{secret}@host"})
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert secret not in text
    assert text.count("[secret]") >= 3
