"""The pure parts of per-campaign fault isolation: what is refused, what is an outage."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import PartitionsMismatch
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from services.api.queue_status import queue_status
from services.api.redis_moves import legacy_campaign
from services.dispatcher.isolation import failure_reason, is_infrastructure
from services.sender.settings import SenderSettings
from shared.events import MalformedEvent, decode
from shared.events.models import CampaignStarted, TextContent
from shared.events.schemas import render_schemas
from shared.lifecycle import has_expired
from shared.outages import MAX_REASON_CHARS, is_outage
from shared.personalise import UnsendableContent, personalise
from shared.store.campaigns import CampaignRecord

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_a_personalised_text_over_the_limit_is_unsendable_with_its_length() -> None:
    content = TextContent(body="Hola {{bio}}")
    with pytest.raises(UnsendableContent) as refused:
        personalise(content, {"bio": "x" * 1_600})
    assert str(refused.value) == "personalised text is 1,605 characters; WhatsApp allows 1,600"


def test_a_personalised_text_at_the_limit_is_sent() -> None:
    content = personalise(TextContent(body="Hola {{bio}}"), {"bio": "x" * 1_595})
    assert isinstance(content, TextContent)
    assert len(content.body) == 1_600


def _started(**extra: object) -> bytes:
    return json.dumps(
        {
            "type": "CampaignStarted",
            "campaignId": "c1",
            "jobId": "j1",
            "content": {"kind": "text", "body": "hi"},
            "audience": {"kind": "inline", "recipients": [{"contactId": "a", "phone": "+3461"}]},
            **extra,
        }
    ).encode()


def test_a_zone_less_expiry_is_refused_at_decode_naming_the_field() -> None:
    with pytest.raises(MalformedEvent, match="expiresAt: Input should have timezone info"):
        decode(_started(expiresAt="2030-01-01T00:00:00"))


def test_an_expiry_with_a_zone_is_kept_as_given() -> None:
    event = decode(_started(expiresAt="2030-01-01T02:00:00+02:00"))
    assert isinstance(event, CampaignStarted)
    assert event.expires_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_a_zone_less_occurred_at_is_refused_too() -> None:
    with pytest.raises(MalformedEvent, match="occurredAt"):
        decode(_started(occurredAt="2030-01-01T00:00:00"))


def test_the_published_schema_requires_a_zone() -> None:
    schema = json.loads(render_schemas()["CampaignStarted.v1.json"])
    pattern = schema["properties"]["expiresAt"]["anyOf"][0]["pattern"]
    assert re.search(pattern, "2030-01-01T00:00:00Z")
    assert re.search(pattern, "2030-01-01T00:00:00+02:00")
    assert not re.search(pattern, "2030-01-01T00:00:00")


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (None, False),
        (NOW + timedelta(seconds=1), False),
        (NOW, True),
        (datetime(2030, 1, 1, 11), True),  # zone-less reads as UTC instead of raising
        (datetime(2030, 1, 1, 13), False),
    ],
)
def test_expiry_compares_whatever_zone_it_has(expires_at: datetime | None, expected: bool) -> None:
    assert has_expired(expires_at, NOW) is expected


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (RedisConnectionError("refused"), True),
        (KafkaConnectionError("no broker"), True),
        (KafkaTimeoutError(), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-statement"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (asyncpg.exceptions.InternalClientError("another operation is in progress"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.UndefinedTableError("no such table"), False),
        (MessageSizeTooLargeError(), False),  # about the record: it fails again
        (ResponseError("WRONGTYPE"), False),
        (ValueError("bad data"), False),
        (KeyError("missing"), False),
    ],
)
def test_only_unreachable_infrastructure_is_an_outage(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        # As a fresh three-broker cluster raised it: the changelog not yet in metadata.
        (PartitionsMismatch("the changelog topic has 0 partitions"), True),
        (KafkaConnectionError("no broker"), True),
        (ValueError("bad data"), False),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
    ],
)
def test_the_dispatcher_keeps_a_campaign_through_kafka_metadata_catching_up(
    error: Exception, kept: bool
) -> None:
    assert is_infrastructure(error) is kept


def test_a_failure_reason_is_one_bounded_line() -> None:
    try:
        TextContent(body="")
    except ValidationError as error:
        reason = failure_reason(error, 4)
    assert reason.startswith("dispatcher failed 4 times on this campaign: ValidationError: ")
    assert "\n" not in reason
    assert len(failure_reason(ValueError("x" * 5_000), 4)) < MAX_REASON_CHARS + 60


def _record(status: str, reason: str | None) -> CampaignRecord:
    return CampaignRecord(
        id="c1", status=status, content=TextContent(body="hi"), failure_reason=reason
    )


def test_queue_status_shows_the_reason_of_a_failed_campaign_only() -> None:
    failed = queue_status(_record("failed", "it broke"), None, now_ms=0)
    assert failed.model_dump(by_alias=True)["failureReason"] == "it broke"
    # A failed campaign retried keeps the old field until it fails again: not shown.
    assert queue_status(_record("sending", "it broke"), None, now_ms=0).failure_reason is None


def test_a_campaign_hash_of_an_earlier_version_keeps_its_failure_reason() -> None:
    fields = {"id": "c1", "status": "failed", "content": '{"kind":"text","body":"hi"}'}
    moved = legacy_campaign({**fields, "failure_reason": "it broke", "finished_at": ""})
    assert (moved.status, moved.failure_reason, moved.finished_at) == ("failed", "it broke", None)


@pytest.mark.parametrize("value", ["0", "-1", "five"])
def test_the_record_failure_limit_must_be_a_positive_number(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDER_RECORD_MAX_FAILURES", value)
    with pytest.raises(ValidationError, match="sender_record_max_failures"):
        SenderSettings()


def test_the_record_failure_limit_defaults_to_five() -> None:
    assert SenderSettings.model_fields["sender_record_max_failures"].default == 5
