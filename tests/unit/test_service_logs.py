"""The excerpt a failed system test prints of its services' logs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.service_logs import excerpt


def _line(level: str, event: str) -> str:
    return json.dumps({"event": event, "level": level, "service": "sender"})


def test_warnings_and_errors_come_first_then_the_last_lines(tmp_path: Path) -> None:
    lines = [_line("info", f"batch {n}") for n in range(50)]
    lines[10] = _line("warning", "coordinator not available")
    lines[20] = "Traceback (most recent call last):"
    (tmp_path / "sender-0.log").write_text("\n".join(lines) + "\n")
    (tmp_path / "api.log").write_text(_line("info", "started") + "\n")

    text = excerpt(tmp_path)

    api, sender = text.split("sender-0.log")
    assert api.startswith("api.log (1 lines)") and "started" in api
    assert "(50 lines)" in sender
    kept = sender.splitlines()[1:]
    assert "coordinator not available" in kept[0]
    assert "Traceback" in kept[1]
    assert kept[2].strip() == "..."
    assert ["batch 47" in kept[3], "batch 49" in kept[5]] == [True, True]
    assert "batch 30" not in sender


def test_a_quiet_log_shows_only_its_last_lines(tmp_path: Path) -> None:
    (tmp_path / "metrics.log").write_text(
        "\n".join(_line("info", f"fold {n}") for n in range(10)) + "\n"
    )
    body = excerpt(tmp_path, last=2).splitlines()[1:]
    assert len(body) == 2 and "fold 8" in body[0] and "fold 9" in body[1]
