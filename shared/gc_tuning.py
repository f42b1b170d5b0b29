"""The garbage collector of a long-running service, set once it has started.

Python's cyclic collector runs its young generation every 700 net allocations of
container objects, and now and then a full pass over every object in the process,
including the tens of thousands that imports, clients and caches create at startup
and keep until exit. A sender allocates several hundred objects a message (a
request, its form, its reply, an outcome, a span), so at 2,000 messages a second it
collected all the time.

What exists once the service has started is frozen (``gc.freeze``: never scanned
again), and the young generation is collected every 20,000 allocations. In
alternating capacity runs on the 2-core bench machine (bench/notes.md) the
services' CPU per message fell from 0.52-0.65 ms to 0.38-0.41.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def tune_garbage_collector() -> None:
    """Freeze what exists now and space the collections out; call once, after startup."""
    gc.collect()  # garbage left by startup is collected, not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
