"""A service's collector, once tuned: what existed is frozen, collections spaced out.
Run in a process of its own: freezing pytest's own objects would outlive the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.gc_tuning import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import gc
from shared.gc_tuning import tune_garbage_collector
assert gc.get_freeze_count() == 0
tune_garbage_collector()
print(gc.get_freeze_count(), *gc.get_threshold())
"""


def test_startup_objects_are_frozen_and_the_young_generation_waits_longer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    frozen, *thresholds = (int(field) for field in result.stdout.split())
    assert frozen > 1_000
    assert thresholds == [YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD]
    assert YOUNG_THRESHOLD > 700  # CPython's default, which the services outgrew
