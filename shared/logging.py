"""Structured JSON-line logs for every service, including library loggers.

Each line carries the trace and span ids of the span it was logged in, so a log
line leads to its trace in Tempo and back. Secret settings never appear: every
value registered with :func:`register_secret` is masked wherever it shows up.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

MASK = "[secret]"
_secrets: set[str] = set()
# Longest first: a secret that contains another is masked whole, not around it.
_secrets_longest_first: tuple[str, ...] = ()
_PLAIN = (int, float, bool, type(None))


def register_secret(value: str | None) -> None:
    # Every length counts: a short token is still a token, and masking some innocent
    # text costs less than logging it.
    global _secrets_longest_first
    if value and value.strip():
        _secrets.add(value)
        _secrets_longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def add_trace_ids(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def _masked_text(text: str) -> str:
    for secret in _secrets_longest_first:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def masked(value: Any, _visiting: frozenset[int] = frozenset()) -> Any:
    """``value`` with every registered secret masked, inside dicts, lists, tuples and sets
    too; containers are copied, never changed (they may be the caller's)."""
    if isinstance(value, str):
        return _masked_text(value)
    if isinstance(value, _PLAIN):
        return value
    if id(value) in _visiting:
        return "[cycle]"
    inner = _visiting | {id(value)}
    if isinstance(value, Mapping):
        return {masked(key, inner): masked(item, inner) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        # A list either way: that is how the JSON line shows each of them.
        return [masked(item, inner) for item in value]
    # Anything else is rendered through its repr: mask it when a secret shows there.
    shown = repr(value)
    text = _masked_text(shown)
    return value if text == shown else text


def mask_secrets(_logger: object, _method: str, event: MutableMapping[str, Any]) -> Any:
    if not _secrets_longest_first:
        return event
    for key, value in list(event.items()):
        event[key] = masked(value)
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
