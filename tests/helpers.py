"""Waiting on conditions with a deadline: the tests' only way to synchronise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from devstack.processes import free_port

__all__ = ["DeadlineExceeded", "eventually", "eventually_sync", "free_port"]

T = TypeVar("T")


class DeadlineExceeded(AssertionError):
    pass


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Await ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise DeadlineExceeded(f"{what}: not true after {timeout_s} s (last value {last!r})")


def eventually_sync(
    probe: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise DeadlineExceeded(f"{what}: not true after {timeout_s} s (last value {last!r})")
