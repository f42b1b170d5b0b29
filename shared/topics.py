"""Topic names and their layout. Names take the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.settings import Settings

# How long each topic keeps records: per-message results are kept a week, as in Redis.
WEEK_MS = 7 * 24 * 3600 * 1000
MONTH_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Replication:
    """Copies of each partition, and how many must hold a record before it is acknowledged."""

    factor: int = 1
    min_insync: int = 1

    @classmethod
    def for_brokers(cls, brokers: int) -> Replication:
        # Three copies of which two must have a record: one broker can be lost, or
        # restarted, without losing an acknowledged record or refusing writes.
        return cls(factor=min(3, brokers), min_insync=2 if brokers >= 3 else 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Replication:
        return cls(settings.kafka_replication_factor, settings.kafka_min_insync_replicas)

    def topic_configs(self) -> dict[str, str]:
        # An out-of-sync replica never becomes leader: it would drop acknowledged records.
        return {
            "min.insync.replicas": str(self.min_insync),
            "unclean.leader.election.enable": "false",
        }


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    # Records of a topic compacted by key keep only the newest value per key.
    compacted: bool = False
    # How long records are kept; None is the broker's default.
    retention_ms: int | None = None
    replication: Replication = Replication()


@dataclass(frozen=True, slots=True)
class Topics:
    campaign_events: str
    message_commands: str
    message_results: str
    message_status: str
    message_retry: str
    message_dlq: str
    alerts: str
    # Internal: the dispatcher's wake-ups to emit a campaign's next batches.
    dispatcher_ticks: str

    @classmethod
    def from_prefix(cls, prefix: str) -> Topics:
        return cls(
            campaign_events=f"{prefix}campaign.events",
            message_commands=f"{prefix}message.commands",
            message_results=f"{prefix}message.results",
            message_status=f"{prefix}message.status",
            message_retry=f"{prefix}message.retry",
            message_dlq=f"{prefix}message.dlq",
            alerts=f"{prefix}alerts",
            dispatcher_ticks=f"{prefix}dispatcher.ticks",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls.from_prefix(settings.kafka_topic_prefix)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the system needs, with the partition count from settings."""
    topics = Topics.from_settings(settings)
    commands = settings.message_commands_partitions
    results = settings.message_results_partitions
    replication = Replication.from_settings(settings)
    specs = [
        # Kept longest: a campaign's events are its history, and small.
        TopicSpec(
            topics.campaign_events, settings.campaign_events_partitions, retention_ms=MONTH_MS
        ),
        TopicSpec(topics.message_commands, commands, retention_ms=WEEK_MS),
        TopicSpec(topics.message_results, results, retention_ms=WEEK_MS),
        TopicSpec(topics.message_status, results, retention_ms=WEEK_MS),
        # Retries keep the key of their source, so they share its partitioning.
        TopicSpec(topics.message_retry, commands, retention_ms=WEEK_MS),
        # Dead letters wait for a person: a month.
        TopicSpec(topics.message_dlq, 1, retention_ms=MONTH_MS),
        TopicSpec(topics.alerts, 1, retention_ms=MONTH_MS),
        # Keyed by campaign like campaign.events and with as many partitions, so one
        # dispatcher owns both a campaign's events and its ticks. A tick is only a
        # wake-up: an hour of them is plenty.
        TopicSpec(
            topics.dispatcher_ticks, settings.campaign_events_partitions, retention_ms=3_600_000
        ),
    ]
    return [replace(spec, replication=replication) for spec in specs]
