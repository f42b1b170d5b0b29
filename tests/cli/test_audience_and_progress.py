"""Campaign bodies from options and CSV files; when a followed campaign is over; SSE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignctl.audience import campaign_body, message_body, parse_variables, read_recipients
from campaignctl.client import StreamUnavailable
from campaignctl.errors import CliError
from campaignctl.progress import Snapshot, polled, until_over
from campaignctl.stream import live_snapshots, server_sent_events, streamed


def test_variables_are_key_value_pairs() -> None:
    assert parse_variables(["first=Ana", "code=X=1"]) == {"first": "Ana", "code": "X=1"}
    with pytest.raises(ValueError, match="not key=value"):
        parse_variables(["novalue"])


def test_message_is_a_text_or_a_template() -> None:
    assert message_body("Hola", None, {}) == "Hola"
    assert message_body(None, "HX" + "0" * 32, {"1": "Ana"}) == {
        "contentSid": "HX" + "0" * 32,
        "contentVariables": {"1": "Ana"},
    }
    for text, sid, variables in [("a", "HX1", {}), (None, None, {}), ("a", None, {"k": "v"})]:
        with pytest.raises(ValueError):
            message_body(text, sid, variables)


def test_csv_rows_become_inline_recipients(tmp_path: Path) -> None:
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "\ufeffName, Phone ,city,\nAna,+34611001000,Madrid,x\n\n,+34611001001,,\nNobody,,Lima\n",
        encoding="utf-8",
    )
    assert read_recipients(csv_file) == [
        {"phone": "+34611001000", "name": "Ana", "vars": {"city": "Madrid"}},
        {"phone": "+34611001001", "vars": {}},
    ]


def test_csv_without_a_phone_column_is_refused(tmp_path: Path) -> None:
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("name,number\nAna,1\n")
    with pytest.raises(CliError, match="'phone' column"):
        read_recipients(csv_file)
    with pytest.raises(CliError, match="cannot read"):
        read_recipients(tmp_path / "absent.csv")


def test_campaign_body_lists_ids_then_recipients() -> None:
    body = campaign_body("n", "hi", ["c1"], [{"phone": "+1", "vars": {}}], None, "high")
    assert body == {
        "name": "n",
        "message": "hi",
        "contacts": ["c1", {"phone": "+1", "vars": {}}],
        "priority": "high",
    }
    assert campaign_body("n", "hi", ["c1"], [], "2030-01-01T00:00:00Z", "low")["scheduledAt"]


def snap(status: str, processed: int, total: int = 10) -> Snapshot:
    return Snapshot(
        "c", status, total, processed, sent=processed, failed=0, waiting=total - processed
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def ticking(snapshots: list[Snapshot], clock: FakeClock, step: float = 1.0) -> Iterator[Snapshot]:
    for snapshot in snapshots:
        yield snapshot
        clock.now += step


def test_a_completed_campaign_with_every_contact_processed_ends_at_once() -> None:
    seen: list[Snapshot] = []
    clock = FakeClock()
    snapshots = [snap("queued", 0), snap("sending", 5), snap("completed", 10), snap("x", 0)]
    last = until_over(ticking(snapshots, clock), seen.append, clock=clock)
    assert last == snap("completed", 10)
    assert len(seen) == 3


def test_counts_complete_before_the_status_wait_for_it_a_while() -> None:
    clock = FakeClock()
    snapshots = [snap("sending", 10)] * 3 + [snap("completed", 10)]
    assert until_over(ticking(snapshots, clock), lambda _: None, settle_s=5, clock=clock) == snap(
        "completed", 10
    )
    clock = FakeClock()
    stuck = [snap("sending", 10)] * 10
    seen: list[Snapshot] = []
    until_over(ticking(stuck, clock), seen.append, settle_s=3, clock=clock)
    assert len(seen) == 4  # at 0 s it starts to settle; at 3 s it has held for 3 s


def test_a_paused_campaign_is_not_over() -> None:
    clock = FakeClock()
    snapshots = [snap("paused", 4)] * 5 + [snap("sending", 8), snap("stopped", 10)]
    assert until_over(ticking(snapshots, clock), lambda _: None, clock=clock).status == "stopped"


def test_polling_keeps_its_interval_whatever_each_answer_takes() -> None:
    clock = FakeClock()
    fetched: list[float] = []

    def fetch() -> Snapshot:
        fetched.append(clock.now)
        clock.now += 0.2  # the request itself
        return snap("sending", 1)

    source = polled(fetch, interval_s=0.5, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        next(source)
    assert fetched == pytest.approx([0.0, 0.5, 1.0, 1.5])


def queue_status(status: str, processed: int) -> dict:
    """A queue-status body as the API answers it (services/api/queue_status.py)."""
    return {
        "campaignId": "c",
        "status": status,
        "progress": {"processed": processed, "total": 10, "success": processed, "failed": 0},
        "metrics": {
            "skipped": 0,
            "cancelled": 0,
            "expired": 0,
            "messagesPerSecond": 1.0,
            "processingTimeMs": 5,
            "errorsByCode": {},
        },
        "account": {
            "total": 10,
            "processed": processed,
            "succeeded": processed,
            "failed": 0,
            "waiting": 10 - processed,
            "summary": f"{processed} sent",
            "failures": [],
        },
    }


def event(status: str, processed: int) -> list[str]:
    body = {"status": queue_status(status, processed), "live": {"ratePerSecond": 7.5}}
    return ["event: status", f"data: {json.dumps(body)}", ""]


def test_server_sent_events_are_parsed_by_the_spec() -> None:
    lines = ["retry: 1000", "", ": heartbeat", "", "event: status", "data: a", "data:b", ""]
    lines += ["data: plain", "", "data: unfinished"]
    assert list(server_sent_events(lines)) == [("status", "a\nb"), ("message", "plain")]


class FakeStreamingClient:
    def __init__(self, streams: list[list[str] | Exception]) -> None:
        self.streams = streams
        self.polls = 0

    def event_lines(self, _campaign_id: str) -> Iterator[str]:
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        yield from stream

    def queue_status(self, _campaign_id: str) -> dict:
        self.polls += 1
        return queue_status("completed", 10)


def test_the_stream_reconnects_when_the_server_ends_it_early() -> None:
    client = FakeStreamingClient(
        [event("sending", 2), event("sending", 6) + event("completed", 10)]
    )
    seen = list(streamed(client, "c"))  # type: ignore[arg-type]
    assert [(s.status, s.processed) for s in seen] == [
        ("sending", 2), ("sending", 6), ("completed", 10)
    ]  # fmt: skip
    assert seen[0].live_rate == 7.5


def test_without_a_stream_progress_is_polled() -> None:
    client = FakeStreamingClient([StreamUnavailable("no route")])
    first = next(live_snapshots(client, "c"))  # type: ignore[arg-type]
    assert (first.status, first.processed, client.polls) == ("completed", 10, 1)
