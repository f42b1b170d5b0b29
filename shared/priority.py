"""How much of the send rate each campaign priority gets, relative to the others."""

from __future__ import annotations

from collections.abc import Mapping

from shared.events.models import Priority

PRIORITY_WEIGHTS: Mapping[Priority, int] = {"high": 4, "normal": 2, "low": 1}


def weight(priority: Priority) -> int:
    return PRIORITY_WEIGHTS.get(priority, PRIORITY_WEIGHTS["normal"])
