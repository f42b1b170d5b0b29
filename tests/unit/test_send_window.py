"""Send windows: open or not in a recipient's zone, and when they open next."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shared.events.models import SendWindow
from shared.send_window import (
    is_open,
    next_open_in_all_ms,
    next_open_ms,
    recipient_zones,
    window_opens_ms,
)

MADRID = ZoneInfo("Europe/Madrid")
TOKYO = ZoneInfo("Asia/Tokyo")
DAYTIME = SendWindow(start="09:00", end="20:00")
NIGHT = SendWindow(start="22:00", end="06:00")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.parametrize(
    ("window", "hour", "minute", "open_"),
    [
        (DAYTIME, 9, 0, True),
        (DAYTIME, 19, 59, True),
        (DAYTIME, 20, 0, False),
        (DAYTIME, 8, 59, False),
        (NIGHT, 23, 0, True),
        (NIGHT, 5, 59, True),
        (NIGHT, 6, 0, False),
        (NIGHT, 12, 0, False),
    ],
)
def test_is_open_at_the_edges(window: SendWindow, hour: int, minute: int, open_: bool) -> None:
    assert is_open(window, datetime(2026, 11, 25, hour, minute, tzinfo=MADRID)) is open_


def test_an_open_window_means_now() -> None:
    now = ms(datetime(2026, 11, 25, 10, 30, tzinfo=MADRID))
    assert next_open_ms(DAYTIME, MADRID, now) == now


def test_after_closing_it_opens_the_next_morning_local_time() -> None:
    now = ms(datetime(2026, 11, 25, 21, 0, tzinfo=MADRID))
    assert next_open_ms(DAYTIME, MADRID, now) == ms(datetime(2026, 11, 26, 9, 0, tzinfo=MADRID))


def test_before_opening_it_opens_the_same_day() -> None:
    now = ms(datetime(2026, 11, 25, 7, 15, tzinfo=TOKYO))
    assert next_open_ms(DAYTIME, TOKYO, now) == ms(datetime(2026, 11, 25, 9, 0, tzinfo=TOKYO))


def test_opening_across_a_daylight_saving_change_keeps_the_local_hour() -> None:
    # Madrid moves its clocks back in the night of 24-25 October 2026.
    now = ms(datetime(2026, 10, 24, 21, 0, tzinfo=MADRID))
    opens = next_open_ms(DAYTIME, MADRID, now)
    assert datetime.fromtimestamp(opens / 1000, MADRID).hour == 9
    assert opens - now == 13 * 3600 * 1000


def test_zones_come_from_the_contact_first_then_the_number() -> None:
    assert recipient_zones("+819012345678", {}, "UTC") == (TOKYO,)
    assert recipient_zones("+819012345678", {"timezone": "Europe/Madrid"}, "UTC") == (MADRID,)
    assert recipient_zones("+819012345678", {"timezone": "Nowhere/City"}, "UTC") == (TOKYO,)
    # Spanish mobiles may be on the mainland or the Canary Islands.
    assert set(recipient_zones("+34612345678", {}, "UTC")) == {
        MADRID,
        ZoneInfo("Atlantic/Canary"),
    }
    assert recipient_zones("+999", {}, "America/Bogota") == (ZoneInfo("America/Bogota"),)


def test_several_possible_zones_wait_until_the_window_is_open_in_all() -> None:
    # 08:30 in Madrid is 07:30 on the Canaries: open in neither; at 09:00 Madrid the
    # Canaries are at 08:00, so it opens at 09:00 Canary time (10:00 Madrid).
    now = ms(datetime(2026, 11, 25, 8, 30, tzinfo=MADRID))
    opens = window_opens_ms(DAYTIME, "+34612345678", {}, now)
    assert opens == ms(datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Atlantic/Canary")))


def test_zones_without_a_shared_open_moment_fall_back_to_the_first() -> None:
    narrow = SendWindow(start="09:00", end="10:00")
    zones = (MADRID, TOKYO)
    now = ms(datetime(2026, 11, 25, 12, 0, tzinfo=MADRID))
    assert next_open_in_all_ms(narrow, zones, now) == next_open_ms(narrow, MADRID, now)
