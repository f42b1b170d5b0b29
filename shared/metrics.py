"""The Prometheus metrics of every service, declared in one place.

One module so that the names the services expose, the Grafana dashboard's
queries and the alert rules cannot drift apart: a test reads the dashboard and
checks each metric it queries against ``METRIC_NAMES``. Each service process
registers what it uses in the default registry and serves it at ``/metrics``
beside ``/health``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "campaign_queue_"

# sender
MESSAGES_SENT = Counter(f"{PREFIX}messages_sent", "Messages Twilio accepted.", ["priority"])
MESSAGES_FAILED = Counter(
    f"{PREFIX}messages_failed",
    "Messages that ended failed, by Twilio error code ('none' without one).",
    ["code", "retryable"],
)
TWILIO_REQUEST_SECONDS = Histogram(
    f"{PREFIX}twilio_request_duration_seconds",
    "Time of one Twilio create-message request, by outcome.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
LIMITER_WAIT_SECONDS = Histogram(
    f"{PREFIX}limiter_wait_seconds",
    "Time a message waited in the fair gate for its limiter grant.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
CIRCUIT_BREAKER_STATE = Gauge(
    f"{PREFIX}circuit_breaker_state",
    "This replica's Twilio circuit breaker: 0 closed, 1 half open, 2 open.",
)
BUFFERED_COMMANDS = Gauge(
    f"{PREFIX}sender_buffered_commands",
    "Commands read from Kafka whose outcome is not yet published.",
)

# dispatcher
BATCHES_EMITTED = Counter(f"{PREFIX}batches_emitted", "Batches put on message.commands.")
BATCHES_IN_FLIGHT = Gauge(
    f"{PREFIX}batches_in_flight",
    "Batches emitted whose contacts do not all have an outcome, over all campaigns.",
)

# metrics
RESULTS_FOLDED = Counter(
    f"{PREFIX}results_folded", "Contact outcomes counted into progress.", ["outcome"]
)

# api
CAMPAIGNS = Gauge(f"{PREFIX}campaigns", "Campaigns by status.", ["status"])
# The account of each running or recently run campaign (shared/account.py), so that a
# Grafana panel shows what queue-status, the web page and campaignctl show.
CAMPAIGN_RECIPIENTS = Gauge(
    f"{PREFIX}campaign_recipients",
    "Recipients of a running or recently run campaign, by the state they ended in.",
    ["campaign", "state"],
)
CAMPAIGN_SUCCESS_RATE = Gauge(
    f"{PREFIX}campaign_success_rate_percent",
    "Succeeded out of processed recipients, failures after acceptance counted as failures.",
    ["campaign"],
)
CONSUMER_LAG = Gauge(
    f"{PREFIX}consumer_lag",
    "Records not yet consumed, per consumer group, topic and partition.",
    ["group", "topic", "partition"],
)

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}

# What Prometheus shows: counters gain a _total sample, histograms _bucket/_sum/_count.
METRIC_NAMES = frozenset(
    {
        f"{PREFIX}messages_sent_total",
        f"{PREFIX}messages_failed_total",
        f"{PREFIX}twilio_request_duration_seconds_bucket",
        f"{PREFIX}twilio_request_duration_seconds_sum",
        f"{PREFIX}twilio_request_duration_seconds_count",
        f"{PREFIX}limiter_wait_seconds_bucket",
        f"{PREFIX}limiter_wait_seconds_sum",
        f"{PREFIX}limiter_wait_seconds_count",
        f"{PREFIX}circuit_breaker_state",
        f"{PREFIX}sender_buffered_commands",
        f"{PREFIX}batches_emitted_total",
        f"{PREFIX}batches_in_flight",
        f"{PREFIX}results_folded_total",
        f"{PREFIX}campaign_recipients",
        f"{PREFIX}campaign_success_rate_percent",
        f"{PREFIX}campaigns",
        f"{PREFIX}consumer_lag",
    }
)
