"""Which errors mean "the infrastructure is away" rather than "this work is bad",
and what is said of an error when work is set aside for it.

Work that fails on an outage is kept and tried again, however long the outage: it
is never dead-lettered or failed for it. Work that fails the same way for any other
reason is set aside after a few tries, so that it cannot stall what comes after it;
``summarise`` gives the reason it is set aside with (a DLQ entry, a contact's or a
campaign's failure).
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Kafka errors about the record itself: sending it again fails again.
_BAD_RECORD_KAFKA_ERRORS = (
    CorruptRecordException,
    InvalidMessageError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)


# PostgreSQL away, restarting, shutting down, or out of connections or room: the
# same statement succeeds once it is back. The driver's own errors belong here too: a
# connection cut mid-statement can fail its reset as "another operation is in
# progress" (InternalClientError) or "connection is closed" (InterfaceError); the pool
# then drops it and the next statement gets a new one. (Seen in the PostgreSQL fault
# row: the metrics service's consumer died of it and the campaign never finished.)
DATABASE_OUTAGES = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def is_outage(error: BaseException) -> bool:
    """True for Redis, Kafka or PostgreSQL being unreachable, slow, failing over or
    loading."""
    if isinstance(error, KafkaError):
        # Kafka's error kinds are many and mostly transient (leaders moving, brokers
        # away): anything not about the record itself counts as an outage.
        return not isinstance(error, _BAD_RECORD_KAFKA_ERRORS)
    # ReadOnlyError: a replica answering while Redis fails over.
    return isinstance(
        error,
        (
            RedisConnectionError,
            RedisTimeoutError,
            ReadOnlyError,
            OSError,
            TimeoutError,
            *DATABASE_OUTAGES,
        ),
    )


# Enough of an error for a person; a validation error can run to many lines.
MAX_REASON_CHARS = 300


def summarise(error: BaseException, limit: int = MAX_REASON_CHARS) -> str:
    """The error on one line, its type first, cut to ``limit`` characters."""
    summary = " ".join(f"{type(error).__name__}: {error}".split())
    if len(summary) > limit:
        summary = summary[: limit - 1] + "…"
    return summary
