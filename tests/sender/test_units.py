"""The sender's decisions as plain functions: no Kafka, Redis or HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.sender.control import Decision, decision_for_status
from services.sender.handler import outcome_from_entry
from services.sender.ledger import LedgerEntry, LedgerState, Snapshot, Verdict, verdict
from services.sender.twilio_gateway import is_same_message, message_form
from services.sender.twilio_http import parse_retry_after
from shared.events.models import MessageFailed, MessageSent, SendMessage, TemplateContent
from shared.retry import retry_delay_ms
from shared.twilio_errors import (
    ERROR_CODES,
    PERMANENT,
    RETRYABLE,
    classify,
    classify_status,
)
from tests.sender.conftest import text_command

EXPECTED_DISPOSITION = {
    # Retryable, synchronous answers.
    20429: RETRYABLE,
    20500: RETRYABLE,
    20503: RETRYABLE,
    21611: RETRYABLE,
    21730: RETRYABLE,
    # Retryable, delivery receipts (30xxx).
    30001: RETRYABLE,
    30003: RETRYABLE,
    30008: RETRYABLE,
    30021: RETRYABLE,
    30036: RETRYABLE,
    30500: RETRYABLE,
    # Retryable, WhatsApp / channels (63xxx).
    63010: RETRYABLE,
    63012: RETRYABLE,
    63017: RETRYABLE,
    63018: RETRYABLE,
    63019: RETRYABLE,
    63023: RETRYABLE,
    63038: RETRYABLE,
    63049: RETRYABLE,
    # Permanent, synchronous answers.
    20003: PERMANENT,
    21211: PERMANENT,
    21265: PERMANENT,
    21266: PERMANENT,
    21408: PERMANENT,
    21602: PERMANENT,
    21603: PERMANENT,
    21604: PERMANENT,
    21606: PERMANENT,
    21608: PERMANENT,
    21610: PERMANENT,
    21612: PERMANENT,
    21614: PERMANENT,
    21617: PERMANENT,
    21619: PERMANENT,
    21635: PERMANENT,
    21654: PERMANENT,
    21655: PERMANENT,
    21656: PERMANENT,
    21658: PERMANENT,
    21659: PERMANENT,
    21660: PERMANENT,
    21661: PERMANENT,
    # Permanent, delivery receipts (30xxx).
    30002: PERMANENT,
    30004: PERMANENT,
    30005: PERMANENT,
    30006: PERMANENT,
    30007: PERMANENT,
    30019: PERMANENT,
    # Permanent, WhatsApp / channels (63xxx).
    63001: PERMANENT,
    63002: PERMANENT,
    63003: PERMANENT,
    63005: PERMANENT,
    63006: PERMANENT,
    63007: PERMANENT,
    63008: PERMANENT,
    63013: PERMANENT,
    63014: PERMANENT,
    63015: PERMANENT,
    63016: PERMANENT,
    63020: PERMANENT,
    63021: PERMANENT,
    63022: PERMANENT,
    63024: PERMANENT,
    63027: PERMANENT,
    63028: PERMANENT,
    63029: PERMANENT,
    63030: PERMANENT,
    63031: PERMANENT,
    63032: PERMANENT,
    63034: PERMANENT,
}


def test_the_table_holds_exactly_the_codes_this_file_checks() -> None:
    assert set(ERROR_CODES) == set(EXPECTED_DISPOSITION)


@pytest.mark.parametrize(("code", "disposition"), sorted(EXPECTED_DISPOSITION.items()))
def test_each_code_has_its_disposition(code: int, disposition: str) -> None:
    # The HTTP status must not override a known code: 21211 comes with 400, 20429 with 429.
    # Delivery receipts carry a code and no HTTP status at all.
    assert classify(code, None) is disposition
    assert classify(code, 400) is disposition
    assert classify(code, 429) is disposition
    assert classify(code, 503) is disposition


@pytest.mark.parametrize(
    ("http_status", "disposition"),
    [
        (None, RETRYABLE),  # timeout or lost connection: no answer at all
        (429, RETRYABLE),
        (500, RETRYABLE),
        (502, RETRYABLE),
        (503, RETRYABLE),
        (400, PERMANENT),
        (401, PERMANENT),
        (404, PERMANENT),
        (422, PERMANENT),
    ],
)
def test_unknown_codes_are_classified_by_http_status(http_status, disposition) -> None:
    assert classify_status(http_status) is disposition
    assert classify(99999, http_status) is disposition
    assert classify(None, http_status) is disposition


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    delays = [
        retry_delay_ms(n, base_delay_ms=100, max_delay_ms=1_000, draw=0.0) for n in range(1, 6)
    ]
    assert delays == [50, 100, 200, 400, 500]
    assert retry_delay_ms(1, base_delay_ms=100, max_delay_ms=1_000, draw=0.999) < 100
    assert retry_delay_ms(1, base_delay_ms=100, max_delay_ms=1_000, draw=0.5) == 75


def test_retry_after_is_a_floor_for_the_backoff() -> None:
    assert retry_delay_ms(1, base_delay_ms=100, max_delay_ms=1_000, retry_after_s=2) == 2_000
    assert retry_delay_ms(5, base_delay_ms=1_000, max_delay_ms=60_000, retry_after_s=1, draw=0) == (
        8_000
    )


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def _snapshot(state: LedgerState | None, age_ms: int = 0) -> Snapshot:
    now = 1_000_000
    if state is None:
        return Snapshot(entry=None, raw=None, now_ms=now)
    entry = LedgerEntry(state=state, sid=None, code=None, at_ms=now - age_ms, replica="r1")
    return Snapshot(entry=entry, raw=entry.to_json(), now_ms=now)


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (_snapshot(None), Verdict.FREE),
        (_snapshot(LedgerState.SENT, age_ms=999_999), Verdict.FINAL),
        (_snapshot(LedgerState.FAILED), Verdict.FINAL),
        (_snapshot(LedgerState.CLAIMED, age_ms=1_000), Verdict.BUSY),
        (_snapshot(LedgerState.CLAIMED, age_ms=20_000), Verdict.IN_DOUBT),
    ],
)
def test_ledger_verdicts(snapshot: Snapshot, expected: Verdict) -> None:
    assert verdict(snapshot, stale_after_ms=20_000) is expected


def test_ledger_entry_json_round_trip() -> None:
    entry = LedgerEntry(LedgerState.SENT, "SM1", None, 1_700_000_000_000, "host-1")
    assert LedgerEntry.from_json(entry.to_json()) == entry


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        ("stopped", Decision.CANCEL),
        ("sending", Decision.SEND),
        ("queued", Decision.SEND),
        ("paused", Decision.DEFER),
        ("completed", Decision.SEND),
        (None, Decision.SEND),
    ],
)
def test_campaign_status_decides(status, decision) -> None:
    assert decision_for_status(status) is decision


def _template_command() -> SendMessage:
    return SendMessage(
        campaign_id="c1",
        contact_id="k1",
        to="whatsapp:+15550001234",
        from_number="whatsapp:+15550009999",
        content=TemplateContent(content_sid="HX" + "a" * 32, content_variables={"1": "Ada"}),
    )


def test_message_form_for_text_and_template() -> None:
    text = text_command("c1", "k1", "whatsapp:+15550001234", "whatsapp:+15550009999")
    assert message_form(text) == {
        "To": "whatsapp:+15550001234",
        "From": "whatsapp:+15550009999",
        "Body": "Hello k1 from c1",
    }
    assert message_form(_template_command()) == {
        "To": "whatsapp:+15550001234",
        "From": "whatsapp:+15550009999",
        "ContentSid": "HX" + "a" * 32,
        "ContentVariables": '{"1": "Ada"}',
    }


def test_reconciliation_matches_from_and_body() -> None:
    text = text_command("c1", "k1", "whatsapp:+15550001234", "whatsapp:+15550009999")
    same = SimpleNamespace(from_="whatsapp:+15550009999", body="Hello k1 from c1")
    other_body = SimpleNamespace(from_="whatsapp:+15550009999", body="another campaign")
    other_sender = SimpleNamespace(from_="whatsapp:+15550008888", body="Hello k1 from c1")
    assert is_same_message(same, text)
    assert not is_same_message(other_body, text)
    assert not is_same_message(other_sender, text)
    assert is_same_message(
        SimpleNamespace(from_="whatsapp:+15550009999", body=""), _template_command()
    )


def test_recorded_outcomes_are_re_emitted_as_events() -> None:
    command = text_command("c1", "k1", "whatsapp:+15550001234", "whatsapp:+15550009999")
    at_ms = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)
    sent = outcome_from_entry(command, LedgerEntry(LedgerState.SENT, "SM9", None, at_ms, "r"))
    assert isinstance(sent, MessageSent) and sent.message_sid == "SM9"
    refused = outcome_from_entry(command, LedgerEntry(LedgerState.FAILED, None, 21211, at_ms, "r"))
    assert isinstance(refused, MessageFailed)
    assert (refused.error_code, refused.retryable) == (21211, False)
    throttled = outcome_from_entry(
        command, LedgerEntry(LedgerState.FAILED, None, 20429, at_ms, "r")
    )
    assert isinstance(throttled, MessageFailed) and throttled.retryable
