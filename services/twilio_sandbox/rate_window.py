"""Per-sender sliding 1-second windows: the exact 'never above N per second' rule.

A request is accepted only if fewer than N messages from the same sender were accepted in
the preceding second, which guarantees that every half-open window [t, t + 1 s) holds at
most N accepted messages, whatever t is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW_NS = 1_000_000_000
NS_PER_S = 1_000_000_000


@dataclass(slots=True, frozen=True)
class WindowDecision:
    allowed: bool
    retry_after_s: int  # 0 when allowed, otherwise >= 1 (Retry-After is whole seconds)


ALLOWED = WindowDecision(allowed=True, retry_after_s=0)


class SlidingWindowLimiter:
    """Acceptance timestamps per key; callers pass the clock so the maths is testable."""

    __slots__ = ("_accepted_ns_by_key",)

    def __init__(self) -> None:
        self._accepted_ns_by_key: dict[str, deque[int]] = {}

    def try_acquire(self, key: str, now_ns: int, limit_per_s: int) -> WindowDecision:
        """Record an acceptance at now_ns if the window allows it (check and record at once)."""
        accepted = self._accepted_ns_by_key.get(key)
        if accepted is None:
            accepted = deque()
            self._accepted_ns_by_key[key] = accepted
        # An acceptance exactly one second ago no longer shares a half-open window with now.
        horizon_ns = now_ns - WINDOW_NS
        while accepted and accepted[0] <= horizon_ns:
            accepted.popleft()
        if len(accepted) < limit_per_s:
            accepted.append(now_ns)
            return ALLOWED
        # The limit may have been lowered at run time, so the blocking entry is the one whose
        # expiry brings the count below the limit, not necessarily the oldest.
        blocking_ns = accepted[len(accepted) - limit_per_s]
        wait_ns = blocking_ns + WINDOW_NS - now_ns
        retry_after_s = max(1, -(-wait_ns // NS_PER_S))
        return WindowDecision(allowed=False, retry_after_s=retry_after_s)

    def clear(self) -> None:
        self._accepted_ns_by_key.clear()
