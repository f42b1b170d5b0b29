"""Values as people read them in a table: short ids and local times.

Plain functions of their input (and of the local time zone, given for tests), so the
tables stay readable without an API to test them against.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

# Eight hex digits of a UUID: one in four billion, so two of a user's campaigns
# sharing them is unlikely; a command given a prefix finds out (campaigns.resolve_id).
SHORT_ID_CHARS = 8


def short_id(value: str) -> str:
    return value[:SHORT_ID_CHARS]


def local_time(value: str | None, zone: tzinfo | None = None) -> str:
    """``2026-12-24T08:00:00Z`` -> ``2026-12-24 09:00`` in the local zone (or ``zone``),
    to the minute; anything unparseable is shown as it came."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def duration(milliseconds: float) -> str:
    """How long, as a person says it: ``850 ms``, ``12 s``, ``4 min 10 s``, ``2 h 5 min``."""
    if milliseconds < 1_000:
        return f"{milliseconds:.0f} ms"
    seconds = round(milliseconds / 1_000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
