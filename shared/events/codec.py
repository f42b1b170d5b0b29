"""Events to Kafka records and back: a JSON body plus CloudEvents-style headers.

The body is self-describing (``type`` and ``version`` inside), so a producer that
knows nothing of this project can publish raw JSON bytes; the headers are for
routing, tracing and tools, and are never needed to decode a record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from opentelemetry import propagate
from pydantic import ValidationError

from shared.events.models import EVENT_TYPES, Event

CONTENT_TYPE = "application/json"
TYPE_NAMESPACE = "com.campaignqueue"

Headers = list[tuple[str, bytes]]

_MODELS: dict[tuple[str, int], type[Event]] = {
    (model.model_fields["type"].default, model.model_fields["version"].default): model
    for model in EVENT_TYPES
}

# Older versions are lifted to the current one here, one function a step:
# ``("SendMessage", 1): upcast_v1_v2``. None yet: every type is at version 1.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class EventDecodeError(ValueError):
    """A record that is not a valid event; it goes to the DLQ with this reason."""


class MalformedEvent(EventDecodeError):
    pass


class UnknownEventType(EventDecodeError):
    pass


def encode(event: Event, *, source: str) -> tuple[bytes, Headers]:
    """The record value and headers for one event."""
    value = event.model_dump_json(by_alias=True).encode()
    headers: Headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.event_id.encode()),
        ("ce_type", f"{TYPE_NAMESPACE}.{event.type}.v{event.version}".encode()),  # type: ignore[attr-defined]
        ("ce_source", source.encode()),
        ("ce_time", event.occurred_at.isoformat().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    headers.extend(trace_headers())
    return value, headers


def trace_headers() -> Headers:
    """The W3C trace context of the current span; a fresh trace id when there is none.

    Every record carries a traceparent so that a consumer can always tie its work
    to the producer's, even when tracing is not exported.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" not in carrier:
        carrier["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return [(name, value.encode()) for name, value in carrier.items()]


def header_map(headers: Sequence[tuple[str, bytes]] | None) -> Mapping[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in headers or ()}


def decode(value: bytes | None) -> Event:
    """One event from a record value, upcast to the current version of its type."""
    if not value:
        raise MalformedEvent("empty record")
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise MalformedEvent(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise MalformedEvent("not a JSON object")
    event_type, version = body.get("type"), body.get("version", 1)
    if not isinstance(event_type, str) or not isinstance(version, int):
        raise MalformedEvent("missing or invalid 'type' or 'version'")
    while (upcast := UPCASTERS.get((event_type, version))) is not None:
        body = upcast(body)
        version = body["version"]
    model = _MODELS.get((event_type, version))
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r} version {version}")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MalformedEvent(f"invalid {event_type} v{version}: {where}: {first['msg']}") from None
