"""Snapshots on a clock: the network read off the main thread, so that --follow redraws
at least every ``tick_s`` whatever the event stream does.

Why: ``follow`` used to draw only when the next snapshot arrived, and the main thread
waited for it inside a blocking read of the event stream (``iter_lines``). The API sends
an event only when the counts change (live.py), so any silence froze the numbers and
the ETA: counts that reached Redis late, a stream ending at its lifetime and
reconnecting, an API slow to answer, or the polling fallback's synchronous request.
When the next event came the bar jumped, to the end if the campaign had finished
meanwhile. The settle wait of ``until_over`` counted only when a snapshot came, too.

Now a thread reads the stream, another asks queue-status whenever the stream has been
quiet for ``quiet_s``, and the main thread takes whatever came within ``tick_s``,
handing on the last snapshot again when nothing did.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from campaignctl.progress import Snapshot

TICK_S = 0.5
QUIET_S = 1.0

_SNAPSHOT, _POLLED, _ERROR, _END = "snapshot", "polled", "error", "end"


def ticking(
    snapshots: Iterable[Snapshot],
    poll: Callable[[], Snapshot] | None = None,
    tick_s: float = TICK_S,
    quiet_s: float = QUIET_S,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Snapshot]:
    """``snapshots`` as they come, and the last one again every ``tick_s`` without one.

    ``poll`` (queue-status) fills a quiet stream's gaps; it must be safe to call from
    another thread (its own HTTP client). An error of ``snapshots`` is raised here; one
    of ``poll`` is not: the stream, or its own polling fallback, reports a dead API.
    """
    inbox: queue.Queue[tuple[str, object, float]] = queue.Queue()
    stop = threading.Event()
    heard = [clock()]  # when the stream last said something

    def read() -> None:
        try:
            for snapshot in snapshots:
                heard[0] = clock()
                inbox.put((_SNAPSHOT, snapshot, heard[0]))
                if stop.is_set():
                    return
        except Exception as error:  # handed to the main thread, which raises it
            inbox.put((_ERROR, error, clock()))
        else:
            inbox.put((_END, None, clock()))

    def fill_gaps() -> None:
        while not stop.wait(quiet_s / 2):
            asked = clock()
            if asked - heard[0] < quiet_s:
                continue
            try:
                inbox.put((_POLLED, poll(), asked))  # type: ignore[misc]
            except Exception:  # the stream, or its polling, reports a dead API
                continue

    threading.Thread(target=read, name="campaignctl-stream", daemon=True).start()
    if poll is not None:
        threading.Thread(target=fill_gaps, name="campaignctl-poll", daemon=True).start()
    last: Snapshot | None = None
    try:
        while True:
            try:
                kind, item, at = inbox.get(timeout=tick_s)
            except queue.Empty:
                if last is not None:
                    yield last
                continue
            if kind == _END:
                return
            if kind == _ERROR:
                raise item  # type: ignore[misc]
            assert isinstance(item, Snapshot)
            if kind == _POLLED:
                if at < heard[0]:
                    continue  # the stream spoke meanwhile: its snapshot is newer
                if last is not None and item.live_rate is None:
                    item = replace(item, live_rate=last.live_rate)
            last = item
            yield item
    finally:
        stop.set()
