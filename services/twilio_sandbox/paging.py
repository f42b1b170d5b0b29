"""GET Messages.json: Twilio's filters (To, From, DateSent, DateSent<, DateSent>) and paging.

Pages are newest first. Page tokens name a message sid: "PA<sid>" is the page of messages
older than it, "PB<sid>" the page newer than it, so pages stay stable while new messages
arrive (they only ever appear in front of page 0).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from .messages import API_VERSION, Message, MessageStore

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
SECONDS_PER_DAY = 86_400
OLDER_TOKEN_PREFIX = "PA"
NEWER_TOKEN_PREFIX = "PB"
FILTER_PARAMS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


class InvalidListQuery(ValueError):
    """A list parameter Twilio would reject with 400 / 20001."""


@dataclass(slots=True, frozen=True)
class ListFilters:
    to: str | None = None
    from_: str | None = None
    min_sent_s: int | None = None  # inclusive, epoch seconds (date_sent has 1 s precision)
    max_sent_s: int | None = None  # inclusive

    def matches(self, message: Message) -> bool:
        if self.from_ is not None and message.from_ != self.from_:
            return False
        sent_s = message.sent_epoch_s
        if self.min_sent_s is not None and sent_s < self.min_sent_s:
            return False
        return self.max_sent_s is None or sent_s <= self.max_sent_s


def _parse_date_param(name: str, raw: str) -> tuple[int, bool]:
    """Epoch seconds of `raw` and whether it named a whole day (YYYY-MM-DD)."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()), True
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidListQuery(f"Invalid {name}: {raw!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()), False


def _day_start_s(epoch_s: int) -> int:
    return epoch_s - epoch_s % SECONDS_PER_DAY


def parse_filters(query: Mapping[str, str]) -> ListFilters:
    min_sent_s: int | None = None
    max_sent_s: int | None = None

    def narrow(lower: int | None, upper: int | None) -> None:
        nonlocal min_sent_s, max_sent_s
        if lower is not None:
            min_sent_s = lower if min_sent_s is None else max(min_sent_s, lower)
        if upper is not None:
            max_sent_s = upper if max_sent_s is None else min(max_sent_s, upper)

    if raw := query.get("DateSent"):
        # The official client sends datetimes and dates as YYYY-MM-DDTHH:MM:SSZ; DateSent
        # means "sent on that day" either way.
        day_start_s = _day_start_s(_parse_date_param("DateSent", raw)[0])
        narrow(day_start_s, day_start_s + SECONDS_PER_DAY - 1)
    if raw := query.get("DateSent<"):
        bound_s, whole_day = _parse_date_param("DateSent<", raw)
        narrow(None, bound_s + SECONDS_PER_DAY - 1 if whole_day else bound_s)
    if raw := query.get("DateSent>"):
        narrow(_parse_date_param("DateSent>", raw)[0], None)
    return ListFilters(
        to=query.get("To") or None,
        from_=query.get("From") or None,
        min_sent_s=min_sent_s,
        max_sent_s=max_sent_s,
    )


def parse_page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        page_size = int(raw)
    except ValueError as exc:
        raise InvalidListQuery(f"Invalid PageSize: {raw!r}") from exc
    if page_size < 1:
        raise InvalidListQuery(f"Invalid PageSize: {raw!r}")
    return min(page_size, MAX_PAGE_SIZE)


def parse_page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    try:
        page_number = int(raw)
    except ValueError as exc:
        raise InvalidListQuery(f"Invalid Page: {raw!r}") from exc
    if page_number < 0:
        raise InvalidListQuery(f"Invalid Page: {raw!r}")
    return page_number


def _take_matching(messages: Iterable[Message], filters: ListFilters, wanted: int) -> list[Message]:
    taken: list[Message] = []
    for message in messages:
        if filters.matches(message):
            taken.append(message)
            if len(taken) == wanted:
                break
    return taken


@dataclass(slots=True, frozen=True)
class PageSelection:
    messages: list[Message]  # newest first
    has_older: bool
    has_newer: bool


def select_page(
    store: MessageStore, filters: ListFilters, page_size: int, page_token: str | None
) -> PageSelection:
    candidates = store.in_acceptance_order(filters.to)
    anchor = store.get(page_token[2:]) if page_token else None
    if page_token and (
        anchor is None or page_token[:2] not in (OLDER_TOKEN_PREFIX, NEWER_TOKEN_PREFIX)
    ):
        # The anchor is gone (ledger cleared) or the token is foreign: nothing left to page.
        return PageSelection(messages=[], has_older=False, has_newer=False)
    if anchor is not None and page_token.startswith(NEWER_TOKEN_PREFIX):
        first_newer = bisect_right(candidates, anchor.seq, key=lambda m: m.seq)
        newer = _take_matching(
            (candidates[i] for i in range(first_newer, len(candidates))), filters, page_size + 1
        )
        has_newer = len(newer) > page_size
        page = newer[:page_size]
        page.reverse()
        return PageSelection(messages=page, has_older=True, has_newer=has_newer)
    end = len(candidates)
    if anchor is not None:
        end = bisect_left(candidates, anchor.seq, key=lambda m: m.seq)
    older = _take_matching((candidates[i] for i in range(end - 1, -1, -1)), filters, page_size + 1)
    return PageSelection(
        messages=older[:page_size], has_older=len(older) > page_size, has_newer=anchor is not None
    )


def _filter_query_items(query: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(name, query[name]) for name in FILTER_PARAMS if query.get(name)]


def page_envelope(
    account_sid: str,
    query: Mapping[str, str],
    page_size: int,
    page_number: int,
    page_token: str | None,
    selection: PageSelection,
    resources: list[dict[str, object]],
) -> dict[str, object]:
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    filter_items = _filter_query_items(query)

    def page_uri(number: int, token: str | None) -> str:
        items = [*filter_items, ("PageSize", str(page_size)), ("Page", str(number))]
        if token:
            items.append(("PageToken", token))
        return f"{base}?{urlencode(items)}"

    next_page_uri = None
    previous_page_uri = None
    if selection.has_older and selection.messages:
        next_page_uri = page_uri(page_number + 1, OLDER_TOKEN_PREFIX + selection.messages[-1].sid)
    if selection.has_newer and selection.messages and page_number > 0:
        previous_page_uri = page_uri(
            page_number - 1, NEWER_TOKEN_PREFIX + selection.messages[0].sid
        )
    start = page_number * page_size
    return {
        "messages": resources,
        "page": page_number,
        "page_size": page_size,
        "first_page_uri": page_uri(0, None),
        "next_page_uri": next_page_uri,
        "previous_page_uri": previous_page_uri,
        "start": start,
        "end": start + max(len(resources) - 1, 0),
        "uri": page_uri(page_number, page_token),
    }
