"""`make bench` in smoke mode: every scenario still runs and produces its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def test_every_scenario_produces_numbers(stack, tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "REDIS_URL": stack.redis_url,
        "SANDBOX_URL": stack.sandbox_url,
    }
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results", str(results_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(results_path.read_text())
    assert document["smoke"] is True
    assert set(document["results"]) == set(SCENARIOS)
    for name, figures in document["results"].items():
        assert _numbers(figures), f"{name} produced no number"
    assert document["machine"]["cores"] >= 1
