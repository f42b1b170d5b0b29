"""What a failed system test shows of its services' logs.

CI keeps only pytest's output, not the test's folders, so a failure that depends on
timing (a group that never formed, a producer refused) must carry its own evidence:
each service's warnings and errors, and the last lines it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

NOTEWORTHY = {"warning", "error", "critical", "exception"}
WIDTH = 300


def _level(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return "error"  # not structured: a traceback or a crash before logging began
    return str(record.get("level", "")).lower() if isinstance(record, dict) else ""


def excerpt(log_dir: Path, noteworthy: int = 8, last: int = 3) -> str:
    """Per service log: its last ``noteworthy`` warnings or errors, then its last lines."""
    parts = []
    for log in sorted(log_dir.glob("*.log")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        flagged = [line for line in lines if _level(line) in NOTEWORTHY][-noteworthy:]
        chosen = [*flagged, "...", *lines[-last:]] if flagged else lines[-last:]
        body = "\n".join(f"  {line[:WIDTH]}" for line in chosen)
        parts.append(f"{log.name} ({len(lines)} lines)\n{body}")
    return "\n".join(parts)
