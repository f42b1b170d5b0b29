"""Dates and hours typed on the command line, read before anything is sent.

A date without an offset is the user's local time: that is what a person typing
``--schedule 2026-12-24T09:00`` means. The API wants an offset; it gets one.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

DATE_EXAMPLES = "2026-12-24T09:00 or 2026-12-24T09:00+01:00"
WINDOW_EXAMPLE = "09:00-20:00"
_HOUR = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_WINDOW = re.compile(rf"^\s*({_HOUR})\s*-\s*({_HOUR})\s*$")


def parse_moment(text: str, zone: tzinfo | None = None) -> str:
    """ISO 8601 with an offset; a date without one is taken in ``zone`` (default: local).

    Raises ValueError with the accepted forms for anything else."""
    cleaned = text.strip().replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date; use {DATE_EXAMPLES}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
    return moment.isoformat()


def parse_window(text: str) -> tuple[str, str]:
    """``09:00-20:00`` -> ("09:00", "20:00"); an end before the start spans midnight."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"not a window of hours; use {WINDOW_EXAMPLE} (24 h clock)")
    start, end = match[1], match[3]
    if start == end:
        raise ValueError("the window starts and ends at the same time")
    return start, end
