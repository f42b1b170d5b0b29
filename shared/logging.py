"""Structured JSON-line logs for every service, including library loggers.

Each line carries the trace and span ids of the span it was logged in, so a log
line leads to its trace in Tempo and back. Secret settings never appear: every
value registered with :func:`register_secret` is masked wherever it shows up.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

MASK = "[secret]"
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    # Short values would mask innocent text; real tokens are long.
    if value and len(value) >= 8:
        _secrets.add(value)


def add_trace_ids(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def mask_secrets(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    if not _secrets:
        return event
    for key, value in event.items():
        if isinstance(value, str) and any(secret in value for secret in _secrets):
            for secret in _secrets:
                value = value.replace(secret, MASK)
            event[key] = value
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library (aiokafka, faust, uvicorn) to JSON lines."""

    def add_service(_logger: object, _method: str, event: dict) -> dict:
        # Set on every record, also those logged from other threads (faust, aiokafka).
        event.setdefault("service", service)
        return event

    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        add_trace_ids,
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_secrets,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The twilio client writes about eleven INFO lines per request (headers, body,
    # response): at hundreds of sends a second that is most of a sender's log and a
    # good part of its CPU. Its warnings and errors still come through.
    logging.getLogger("twilio").setLevel(logging.WARNING)
