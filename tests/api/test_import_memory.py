"""A 100,000-row CSV import against the api as its own process: memory stays flat."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from services.api.settings import ApiSettings
from tests.conftest import settings_environment
from tests.helpers import eventually_sync, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 100_000
TOKEN = "import-token"
MAX_GROWTH_BYTES = 100 * 1024 * 1024


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name", "city", "code"])
        for i in range(rows):
            phone = f"+3461{i // 9000:03d}{i % 9000 + 1000:04d}"
            writer.writerow([phone, f"Contact {i}", "Vigo", f"C{i:06d}"])


class RssSampler:
    """Peak resident memory of a process, sampled every ``interval_s`` in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self.samples += 1
            self._stop.wait(self._interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def api_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
    base.update(env)
    base["PYTHONPATH"] = str(REPO_ROOT)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.api"],
            env=base,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_hundred_thousand_rows_import_without_memory_growth(
    make_settings, redis, tmp_path: Path
) -> None:
    csv_path = tmp_path / "contacts.csv"
    _write_csv(csv_path, ROWS)
    port = free_port()
    env = settings_environment(make_settings(ApiSettings))
    env.update({"API_PORT": str(port), "API_TOKENS": f"importer:{TOKEN}"})
    log_path = tmp_path / "api.log"
    with api_process(env, log_path) as process:
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert process.poll() is None, log_path.read_text()[-2000:]
            try:
                return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(healthy, timeout_s=60, what="api healthy")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
            # Warm up the import path, so that the measurement is of the file, not of imports.
            warm = client.post(
                "/api/contacts/import",
                files={"file": ("warm.csv", b"phone\n+34610001000\n", "text/csv")},
            )
            assert warm.status_code == 200, warm.text
            with RssSampler(process.pid) as sampler, csv_path.open("rb") as upload:
                response = client.post(
                    "/api/contacts/import", files={"file": ("contacts.csv", upload, "text/csv")}
                )
            assert response.status_code == 200, response.text
            report = response.json()
            # The warm-up phone is one of the file's: it is updated, not added again.
            assert (report["imported"], report["skipped"], report["errors"]) == (ROWS, 0, [])
            assert (report["created"], report["updated"]) == (ROWS - 1, 1)
            assert sampler.samples > 1
            growth = sampler.peak - sampler.baseline
            assert growth < MAX_GROWTH_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"

            listed = client.get("/api/contacts", params={"page": 1, "limit": 5}).json()
            assert listed["total"] == ROWS
            first = listed["contacts"][0]
            assert (first["phone"], first["name"]) == ("+34610001000", "Contact 0")
            last = client.get("/api/contacts", params={"page": ROWS // 5, "limit": 5}).json()
            assert last["contacts"][-1]["vars"] == {"city": "Vigo", "code": f"C{ROWS - 1:06d}"}
