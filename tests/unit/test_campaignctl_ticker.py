"""--follow redraws on a clock: a stream that goes quiet (or blocks) for seconds still
gets a snapshot every tick, the gap filled by polling, and its error still surfaces."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from campaignctl.progress import Snapshot
from campaignctl.ticker import ticking


def snapshot(processed: int, status: str = "sending", rate: float | None = 9.0) -> Snapshot:
    return Snapshot("c", status, 10, processed, processed, 0, waiting=10 - processed,
                    live_rate=rate)  # fmt: skip


def test_a_stream_that_blocks_for_seconds_still_gets_a_redraw_every_tick() -> None:
    release = threading.Event()

    def stream() -> Iterator[Snapshot]:
        yield snapshot(1)
        release.wait(5)  # a read that blocks: no event for seconds
        yield snapshot(10, "completed")

    seen: list[tuple[float, Snapshot]] = []
    started = time.monotonic()
    for item in ticking(stream(), tick_s=0.1, quiet_s=10):
        seen.append((time.monotonic() - started, item))
        if len(seen) == 15:
            release.set()
        if item.final:
            break
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    assert max(gaps) < 0.5, gaps  # never a frozen second, though the stream blocked
    assert seen[-1][1].processed == 10


def test_a_quiet_stream_is_filled_in_by_polling_without_going_back() -> None:
    release = threading.Event()
    polled = iter([snapshot(4, rate=None), snapshot(6, rate=None)] + [snapshot(7, rate=None)] * 50)

    def stream() -> Iterator[Snapshot]:
        yield snapshot(2)
        release.wait(5)
        yield snapshot(10, "completed")

    counts = []
    for item in ticking(stream(), poll=lambda: next(polled), tick_s=0.05, quiet_s=0.1):
        counts.append(item.processed)
        if item.processed >= 6:
            release.set()
        if item.final:
            break
    assert 4 in counts and 6 in counts and counts[-1] == 10
    assert counts == sorted(counts)


def test_the_streams_error_reaches_the_caller() -> None:
    def stream() -> Iterator[Snapshot]:
        yield snapshot(1)
        raise RuntimeError("the API went away")

    with pytest.raises(RuntimeError, match="went away"):
        list(ticking(stream(), tick_s=0.05))


def test_a_polled_snapshot_keeps_the_streams_live_rate() -> None:
    release = threading.Event()

    def stream() -> Iterator[Snapshot]:
        yield snapshot(1, rate=12.5)
        release.wait(5)

    for item in ticking(stream(), poll=lambda: snapshot(3, rate=None), tick_s=0.05, quiet_s=0.1):
        if item.processed == 3:
            assert item.live_rate == 12.5
            release.set()
            break
