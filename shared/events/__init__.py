"""The public event contract of the system's Kafka topics."""

from shared.events.codec import (
    EventDecodeError,
    MalformedEvent,
    UnknownEventType,
    decode,
    encode,
    header_map,
)
from shared.events.models import *  # noqa: F403  (the models are the package's API)
from shared.events.models import EVENT_TYPES, Event

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventDecodeError",
    "MalformedEvent",
    "UnknownEventType",
    "decode",
    "encode",
    "header_map",
]
