"""Where the local stack keeps its downloads and its running state."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".cache"
RUN_ROOT = REPO_ROOT / ".run"
