import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka import TopicSetupError, ensure_topics
from shared.topics import Topics, TopicSpec, topic_specs


async def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def test_topics_are_created_once_with_configured_partitions(make_settings) -> None:
    settings = make_settings(message_commands_partitions=24)
    await ensure_topics(settings)
    await ensure_topics(settings)  # idempotent: a second service starting is fine

    topics = Topics.from_settings(settings)
    counts = await _partition_counts(
        settings.kafka_bootstrap_servers, [spec.name for spec in topic_specs(settings)]
    )
    assert counts[topics.message_commands] == 24
    assert counts[topics.message_retry] == 24
    assert counts[topics.campaign_events] == settings.campaign_events_partitions
    assert all(name.startswith(settings.kafka_topic_prefix) for name in counts)


async def test_a_topic_with_too_few_partitions_is_refused(make_settings) -> None:
    settings = make_settings()
    name = f"{settings.kafka_topic_prefix}narrow"
    await ensure_topics(settings, [TopicSpec(name, 2)])
    with pytest.raises(TopicSetupError, match="2 partitions, 8 configured"):
        await ensure_topics(settings, [TopicSpec(name, 8)])


async def test_topics_are_created_with_their_retention(make_settings) -> None:
    settings = make_settings()
    await ensure_topics(settings)
    specs = topic_specs(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in specs]
        )
    finally:
        await admin.close()
    retention = {
        resource[3]: int(value)
        for response in responses
        for resource in response.resources
        for name, value, *_ in resource[4]
        if name == "retention.ms"
    }
    assert retention == {spec.name: spec.retention_ms for spec in specs}
