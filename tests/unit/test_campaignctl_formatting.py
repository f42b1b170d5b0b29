"""campaignctl's pure formatting and parsing: short ids, local times, dates typed on
the command line, and the campaigns table (no API needed)."""

from __future__ import annotations

import re
from datetime import timedelta, timezone

import pytest
from rich.console import Console

from campaignctl.formatting import duration, local_time, short_id
from campaignctl.output import campaigns_table
from campaignctl.when import parse_moment, parse_window

PLUS_ONE = timezone(timedelta(hours=1))
CAMPAIGN_ID = "0b6f3c1e-9a2d-4c4e-8f00-1234567890ab"


def test_short_id_is_the_first_eight_characters() -> None:
    assert short_id(CAMPAIGN_ID) == "0b6f3c1e"


def test_times_are_local_and_to_the_minute() -> None:
    assert local_time("2026-12-24T08:00:00Z", PLUS_ONE) == "2026-12-24 09:00"
    assert local_time("2026-12-24T08:00:00.123456+00:00", PLUS_ONE) == "2026-12-24 09:00"
    assert local_time(None) == "-"
    assert local_time("soon") == "soon"  # shown as it came rather than hidden


def test_a_date_without_an_offset_is_local_time() -> None:
    assert parse_moment("2026-12-24T09:00", PLUS_ONE) == "2026-12-24T09:00:00+01:00"
    assert parse_moment("2026-12-24 09:00", PLUS_ONE) == "2026-12-24T09:00:00+01:00"
    assert parse_moment("2026-12-24T09:00+02:00") == "2026-12-24T09:00:00+02:00"
    assert parse_moment("2026-12-24T09:00:00Z") == "2026-12-24T09:00:00+00:00"


@pytest.mark.parametrize("text", ["tomorrow", "24/12/2026 09:00", "2026-13-01T00:00", ""])
def test_a_date_that_is_not_one_names_the_forms_accepted(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"not a date; use 2026-12-24T09:00 or 2026-12-24T09:00\+01:00"
    ):
        parse_moment(text)


def test_a_send_window_is_two_hours() -> None:
    assert parse_window("09:00-20:00") == ("09:00", "20:00")
    assert parse_window(" 22:00 - 06:00 ") == ("22:00", "06:00")
    for bad in ("9-20", "09:00-24:00", "09:00", "09:00-09:00"):
        with pytest.raises(ValueError):
            parse_window(bad)


def _listing(**campaign: object) -> dict:
    row = {
        "id": CAMPAIGN_ID,
        "name": "Navidad",
        "status": "stopped",
        "priority": "normal",
        "totalContacts": 1200,
        "createdAt": "2026-12-01T10:00:00Z",
        "finishedAt": None,
        **campaign,
    }
    return {"campaigns": [row], "total": 1, "page": 1, "limit": 20}


def _rendered(table: object, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(table)
    return console.export_text()


def test_the_campaigns_table_is_readable_even_when_narrow() -> None:
    status = {
        "account": {"succeeded": 700, "failed": 12},
        "metrics": {"cancelled": 488, "finishedAt": "2026-12-01T11:30:00Z"},
    }
    for width in (160, 100):
        text = _rendered(campaigns_table(_listing(), {CAMPAIGN_ID: status}), width)
        assert "0b6f3c1e" in text and CAMPAIGN_ID not in text  # short, and never wrapped
        assert not re.search(r"\dT\d\d:\d\d", text)  # no raw ISO time
        assert "1,200" in text and "700" in text and "488" in text and "…" not in text
    # Stopped: the record has no finish time, its queue status does.
    wide = _rendered(campaigns_table(_listing(), {CAMPAIGN_ID: status}), 160)
    assert re.search(r"2026-12-01 \d\d:00 +2026-12-01 \d\d:30", wide), wide


def test_a_campaign_without_counts_shows_dashes() -> None:
    text = _rendered(campaigns_table(_listing(status="draft")), 160)
    assert "draft" in text and " - " in text


@pytest.mark.parametrize(
    ("milliseconds", "said"),
    [(850, "850 ms"), (12_400, "12 s"), (250_000, "4 min 10 s"), (7_500_000, "2 h 5 min")],
)
def test_a_duration_reads_as_a_person_says_it(milliseconds: int, said: str) -> None:
    assert duration(milliseconds) == said
