import re
from pathlib import Path

import pytest

from shared.events import (
    EVENT_TYPES,
    CampaignPaused,
    CampaignStarted,
    InlineAudience,
    MalformedEvent,
    MessageFailed,
    Recipient,
    SendMessage,
    TemplateContent,
    TextContent,
    UnknownEventType,
    decode,
    encode,
    header_map,
)
from shared.events.schemas import render_schemas

DOCS_EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def _started() -> CampaignStarted:
    return CampaignStarted(
        campaign_id="c-1",
        job_id="campaign_c-1_1764064800000",
        content=TextContent(body="Hola {{name}}"),
        audience=InlineAudience(recipients=[Recipient(contact_id="k1", phone="+34600000001")]),
        priority="high",
    )


def test_an_event_survives_the_round_trip_with_its_headers() -> None:
    event = _started()
    value, headers = encode(event, source="/services/api")
    assert decode(value) == event
    named = header_map(headers)
    assert named["ce_specversion"] == "1.0"
    assert named["ce_id"] == event.event_id
    assert named["ce_type"] == "com.campaignqueue.CampaignStarted.v1"
    assert named["ce_source"] == "/services/api"
    assert named["content-type"] == "application/json"
    assert TRACEPARENT.match(named["traceparent"])


def test_the_wire_format_is_camel_case_json() -> None:
    value, _ = encode(CampaignPaused(campaign_id="c-9", requested_by="u1"), source="/t")
    assert b'"campaignId":"c-9"' in value
    assert b'"requestedBy":"u1"' in value
    assert b'"type":"CampaignPaused"' in value and b'"version":1' in value


def test_a_foreign_producer_needs_only_type_and_fields() -> None:
    raw = (
        b'{"type": "CampaignStarted", "version": 1, "campaignId": "ext-1", "jobId": "j",'
        b' "content": {"kind": "template", "contentSid": "HX' + b"a" * 32 + b'",'
        b' "contentVariables": {"1": "Ana"}},'
        b' "audience": {"kind": "inline",'
        b' "recipients": [{"contactId": "1", "phone": "+15550001"}]}}'
    )
    event = decode(raw)
    assert isinstance(event, CampaignStarted)
    assert isinstance(event.content, TemplateContent)
    assert event.content.content_variables == {"1": "Ana"}
    assert event.event_id and event.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"", MalformedEvent, "empty"),
        (b"\x00\xffgarbage", MalformedEvent, "not JSON"),
        (b"[1, 2]", MalformedEvent, "not a JSON object"),
        (b'{"version": 1}', MalformedEvent, "type"),
        (b'{"type": "CampaignStarted", "version": 99}', UnknownEventType, "version 99"),
        (b'{"type": "Nonsense", "version": 1}', UnknownEventType, "Nonsense"),
        (b'{"type": "MessageSent", "version": 1}', MalformedEvent, "campaignId"),
    ],
)
def test_bad_records_are_refused_with_a_reason(raw: bytes, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason):
        decode(raw)


def test_every_event_type_has_a_type_and_version() -> None:
    names = [
        (m.model_fields["type"].default, m.model_fields["version"].default) for m in EVENT_TYPES
    ]
    assert len(set(names)) == len(names)
    assert all(isinstance(version, int) for _, version in names)


def test_results_carry_the_twilio_error_code() -> None:
    failed = MessageFailed(
        campaign_id="c", contact_id="k", to="whatsapp:+1", error_code=21211, error_message="bad"
    )
    assert decode(encode(failed, source="/t")[0]).error_code == 21211


def test_a_command_keeps_its_attempt_number() -> None:
    command = SendMessage(
        campaign_id="c",
        contact_id="k",
        to="whatsapp:+34600000001",
        from_number="whatsapp:+14155238886",
        content=TextContent(body="hi"),
        attempt=3,
    )
    assert decode(encode(command, source="/t")[0]).attempt == 3


def test_published_schemas_match_the_models() -> None:
    """Fails when docs/events is stale: run `make schemas` and commit the result."""
    expected = render_schemas()
    published = {path.name: path.read_text() for path in DOCS_EVENTS.glob("*.json")}
    assert sorted(published) == sorted(expected)
    stale = [name for name, text in expected.items() if published[name] != text]
    assert not stale, f"stale schemas, run `make schemas`: {stale}"


def test_event_ids_are_distinct_version_4_uuids() -> None:
    import uuid

    from shared.events.models import _new_id

    ids = [_new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids[:100]]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids[:100]
