"""The sender's settings: the shared ones plus what only the sender needs (units in names)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from shared.settings import Settings


def default_replica_id() -> str:
    # hostname-pid: a restarted process is a new replica, so its old claims look foreign.
    return f"{socket.gethostname()}-{os.getpid()}"


class SenderSettings(Settings):
    health_port: int = Field(default=8102, ge=0, le=65535)

    # Attempts at a retryable Twilio failure before reporting it failed, with exponential
    # backoff and jitter between them. A message waiting for its next attempt holds no
    # partition: the consumer reads ahead past it (services/sender/consumer.py).
    send_max_attempts: PositiveInt = 5
    send_retry_base_delay_ms: NonNegativeInt = 500
    send_retry_max_delay_ms: NonNegativeInt = 30_000

    # One Twilio request may take this long; past it the outcome is unknown.
    twilio_timeout_s: PositiveFloat = 15
    # Circuit breaker: consecutive transient failures that open it, and how long it stays open.
    breaker_fail_max: PositiveInt = 10
    breaker_reset_s: PositiveFloat = 60

    # Widening of each limiter window (see services/sender/limiter.py). It must cover
    # the spread of the delay between a grant's log entry and Twilio's acceptance. A
    # send that goes out late has its entry moved to when it went, so what is left is
    # the request's own way to Twilio: `make bench` measured its spread at 3.9-6.3 ms
    # (p99 2.5 ms), where uncorrected grants spread 10.5-18.5 ms and once exceeded 20
    # (a 429). The margin costs rate precision: 10 per 1.015 s is 98.5% of the limit.
    limiter_margin_ms: NonNegativeInt = 15

    # Who owns a ledger claim; a claim older than twilio_timeout_s + ledger_claim_margin_s
    # belongs to a replica that is gone, and its outcome is reconciled with Twilio.
    sender_replica_id: str = Field(default_factory=default_replica_id, min_length=1)
    ledger_claim_margin_s: PositiveFloat = 5
    ledger_ttl_s: PositiveInt = 7 * 24 * 3600

    # A campaign's status is read from Redis at most this often per replica. A pause
    # takes effect within it (plus a request in flight), inside the promised 500 ms:
    # at 200 ms, make bench saw one pause of twenty take 516 ms on a busy machine.
    campaign_status_cache_ms: NonNegativeInt = 100

    # Consumer: records per fetch (each may hold up to COMMANDS_PER_RECORD commands).
    sender_fetch_max_records: PositiveInt = 10
    # Commands taken from Kafka and not yet answered, per replica. The consumer reads
    # this far ahead so the fair gate sees every campaign waiting in our partitions,
    # not only the one at their head; one fetch may overshoot it by its records. Each
    # costs memory, and is handled again by the next owner after a rebalance.
    sender_max_buffered_commands: PositiveInt = 10_000
    # How long the consumer may go without fetching (its buffer full) before the group
    # evicts it.
    sender_max_poll_interval_ms: PositiveInt = 900_000
    # A record that fails this many times in a row, other than for Redis or Kafka being
    # away, goes to the DLQ with the reason (its unsent contacts failed) and is committed
    # past: retried forever, it would hold its partition's commits for good.
    sender_record_max_failures: PositiveInt = 5
    # On shutdown, in-flight sends get this long to finish before they are cancelled.
    sender_drain_timeout_s: PositiveFloat = 20

    # Fault testing only: after this many messages Twilio accepted, the process kills
    # itself between the acceptance and the ledger write (0: never).
    sender_fault_crash_after_accepted: NonNegativeInt = 0

    # How often each replica reports itself alive (workers:sender in Redis).
    heartbeat_interval_s: PositiveFloat = 5
