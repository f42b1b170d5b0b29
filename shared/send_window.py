"""Send windows: the local hours in which a recipient may get a campaign's messages.

A recipient's time zone is the contact's own (a ``timezone`` field naming an IANA
zone), else the one phonenumbers' time-zone data gives for the number, else the
window's fallback zone. A country with several zones (the US, say) is narrowed by
the number's area code; when the data still names several, the first is taken.
Pure functions: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezones

from shared.events.models import SendWindow

UNKNOWN_ZONE = "Etc/Unknown"
CONTACT_ZONE_FIELDS = ("timezone", "tz", "timeZone")


@lru_cache(maxsize=4096)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=65536)
def number_zones(phone_e164: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(n for n in number_timezones.time_zones_for_number(parsed) if n != UNKNOWN_ZONE)


def recipient_zones(
    phone_e164: str, contact_fields: dict[str, str], fallback: str
) -> tuple[ZoneInfo, ...]:
    """The zones the recipient may be in: the contact's own, else the number's (Spanish
    mobiles may be on the mainland or the Canaries), else the fallback."""
    for field in CONTACT_ZONE_FIELDS:
        named = contact_fields.get(field)
        if named and (found := zone(named)) is not None:
            return (found,)
    zones = tuple(z for name in number_zones(phone_e164) if (z := zone(name)) is not None)
    return zones or (zone(fallback) or ZoneInfo("UTC"),)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def is_open(window: SendWindow, local: datetime) -> bool:
    start, end = _clock(window.start), _clock(window.end)
    now = local.time().replace(second=0, microsecond=0)
    if start < end:
        return start <= now < end
    return now >= start or now < end  # an overnight window, 22:00-06:00


def next_open_ms(window: SendWindow, tz: ZoneInfo, now_ms: int) -> int:
    """``now_ms`` when the window is open for a recipient in ``tz``, else when it opens."""
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    if is_open(window, local):
        return now_ms
    start = _clock(window.start)
    opening = datetime.combine(local.date(), start, tzinfo=tz)
    if opening <= local:
        # Wall-clock arithmetic: across a DST change it still opens at the local hour.
        opening = datetime.combine(local.date() + timedelta(days=1), start, tzinfo=tz)
    return int(opening.timestamp() * 1000)


def next_open_in_all_ms(window: SendWindow, zones: tuple[ZoneInfo, ...], now_ms: int) -> int:
    """The first moment from ``now_ms`` when the window is open in every zone: a recipient
    whose zone is not certain is never messaged outside their hours. When the zones are
    too far apart to share an open moment, the first zone decides."""
    moment = now_ms
    for _ in range(2 * len(zones) + 2):
        later = max(next_open_ms(window, tz, moment) for tz in zones)
        if later == moment:
            return moment
        moment = later
    return next_open_ms(window, zones[0], now_ms)


def window_opens_ms(
    window: SendWindow, phone_e164: str, contact_fields: dict[str, str], now_ms: int
) -> int:
    """When this recipient may get a message: ``now_ms`` if their window is open."""
    zones = recipient_zones(phone_e164, contact_fields, window.timezone)
    return next_open_in_all_ms(window, zones, now_ms)
