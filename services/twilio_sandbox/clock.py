"""One clock for the rate windows and the ledger, so both always agree."""

from __future__ import annotations

import time

NS_PER_MS = 1_000_000


class SandboxClock:
    """Epoch nanoseconds that never go backwards.

    The wall clock is read once at start-up and then advanced by the monotonic clock, so an
    NTP step cannot make the ledger's accepted_at_ms disagree with the MPS windows.
    """

    __slots__ = ("_monotonic_anchor_ns", "_wall_anchor_ns")

    def __init__(self) -> None:
        self._wall_anchor_ns = time.time_ns()
        self._monotonic_anchor_ns = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._wall_anchor_ns + (time.monotonic_ns() - self._monotonic_anchor_ns)

    def now_ms(self) -> int:
        return self.now_ns() // NS_PER_MS
