"""A campaign's progress from the API's server-sent events, or by polling without them.

``GET /api/campaigns/{id}/events`` sends a ``status`` event (the queue-status body plus
``live.ratePerSecond``) whenever the counts change, and ends once the campaign is over
or after a few minutes. An API without that route gets polled instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from campaignctl.client import ApiClient, StreamUnavailable
from campaignctl.progress import Snapshot, polled


def server_sent_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(event name, data)`` of each complete event; comments and retry lines skipped."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


def snapshot_from_event(data: str) -> Snapshot:
    body = json.loads(data)
    live = body.get("live") or {}
    return Snapshot.from_queue_status(body["status"], live_rate=live.get("ratePerSecond"))


def streamed(client: ApiClient, campaign_id: str) -> Iterator[Snapshot]:
    """Snapshots from the event stream, reconnecting when the server ends one early."""
    while True:
        last: Snapshot | None = None
        for name, data in server_sent_events(client.event_lines(campaign_id)):
            if name == "status":
                last = snapshot_from_event(data)
                yield last
        if last is None:
            # A stream that ends without an event would have us reconnect in a tight loop.
            raise StreamUnavailable("the event stream ended without an event")
        if last.final:
            return


def live_snapshots(client: ApiClient, campaign_id: str) -> Iterator[Snapshot]:
    """The event stream while it works, polling queue-status from then on."""
    try:
        yield from streamed(client, campaign_id)
        return
    except StreamUnavailable:
        pass
    yield from polled(lambda: Snapshot.from_queue_status(client.queue_status(campaign_id)))
