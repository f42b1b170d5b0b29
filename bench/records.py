"""Issue 17's figures: what PostgreSQL as the system of record costs and saves.

- ``contacts_import``: a CSV of contacts through ``POST /api/contacts/import`` into a
  list, timed, with the api's largest RSS; then a campaign to that list, timed.
- ``recipients_export``: a million recipients, each sent and read, exported as CSV through
  ``GET /api/campaigns/{id}/recipients.csv``, timed, with the api's largest RSS.
- ``audience_memory``: Redis memory for a million-contact campaign as this version
  stores it (its audience in PostgreSQL) beside the same audience written as earlier
  versions kept it (a Redis list of Recipient JSON), measured on the same Redis.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import redis

from bench.harness import Bench, phone, rss_mb, seed_campaign
from shared.events.models import Recipient
from shared.store.recipients import RecipientOutcome, RecipientReceipt, RecipientStore

AUDIENCE_CHUNK = 1_000
# Outcomes written per statement, as the metrics service writes a poll batch.
OUTCOME_BATCH = 1_000


def contacts_import(bench: Bench, smoke: bool) -> dict:
    rows = 10_000 if smoke else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contacts.csv"
        _write_contacts(path, rows)
        size_mb = path.stat().st_size / 1e6
        with bench.system(sender_replicas=1) as system, system.client() as client:
            api_pid = system.table.get("api").pid
            made = client.post("/api/lists", json={"name": "imported"})
            made.raise_for_status()
            list_id = made.json()["id"]
            with _PeakRss(api_pid) as peak, path.open("rb") as handle:
                began = time.monotonic()
                response = client.post(
                    "/api/contacts/import",
                    params={"listId": list_id},
                    files={"file": ("contacts.csv", handle, "text/csv")},
                    timeout=600,
                )
                seconds = time.monotonic() - began
            response.raise_for_status()
            report = response.json()
            # A campaign to the whole list: its members frozen as the audience, each
            # message checked once personalised.
            with _PeakRss(api_pid) as campaign_peak:
                began = time.monotonic()
                created = client.post(
                    "/api/campaigns",
                    json={"name": "to the list", "message": "Hola {{name}}", "listId": list_id},
                    timeout=600,
                )
                campaign_seconds = time.monotonic() - began
            created.raise_for_status()
    return {
        "rows": rows,
        "file_mb": round(size_mb, 1),
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "created": report["created"],
        "added_to_list": report["addedToList"],
        "errors": len(report["errors"]),
        "api_peak_rss_mb": round(peak.mb, 1),
        "campaign_contacts": created.json()["totalContacts"],
        "campaign_from_list_s": round(campaign_seconds, 1),
        "campaign_api_peak_rss_mb": round(campaign_peak.mb, 1),
    }


def recipients_export(bench: Bench, smoke: bool) -> dict:
    contacts = 10_000 if smoke else 1_000_000
    with bench.system(sender_replicas=1) as system, system.client() as client:
        asyncio.run(seed_campaign(system.env, "export", contacts))
        asyncio.run(_every_one_sent_and_read(system.env, "export", contacts))
        api_pid = system.table.get("api").pid
        lines = 0
        with _PeakRss(api_pid) as peak:
            began = time.monotonic()
            with client.stream("GET", "/api/campaigns/export/recipients.csv", timeout=600) as got:
                got.raise_for_status()
                for chunk in got.iter_bytes():
                    lines += chunk.count(b"\n")
            seconds = time.monotonic() - began
    return {
        "recipients": contacts,
        "rows": lines - 1,
        "seconds": round(seconds, 1),
        "rows_per_s": round((lines - 1) / seconds),
        "api_peak_rss_mb": round(peak.mb, 1),
    }


async def _every_one_sent_and_read(env: dict[str, str], campaign_id: str, contacts: int) -> None:
    """Outcomes and receipts for every recipient, as the metrics service writes them."""
    database = await asyncpg.create_pool(env["DATABASE_URL"], min_size=1, max_size=1)
    try:
        store, at = RecipientStore(database), datetime.now(UTC)
        for start in range(0, contacts, OUTCOME_BATCH):
            positions = range(start, min(contacts, start + OUTCOME_BATCH))
            await store.record_outcomes(
                [
                    RecipientOutcome(campaign_id, p, "sent", at, message_sid=f"SM{p:032x}")
                    for p in positions
                ]
            )
            await store.record_receipts(
                [RecipientReceipt(campaign_id, p, "read", at) for p in positions]
            )
    finally:
        await database.close()


def audience_memory(bench: Bench, smoke: bool) -> dict:
    contacts = 10_000 if smoke else 1_000_000
    with bench.system(sender_replicas=1) as system:
        before = bench.redis_used_memory()
        asyncio.run(seed_campaign(system.env, "memory", contacts))
        now = bench.redis_used_memory() - before
        earlier = _as_a_redis_list(bench, system.env["REDIS_KEY_PREFIX"], contacts)
    return {
        "contacts": contacts,
        "redis_bytes_for_the_audience_now": max(0, now),
        "redis_bytes_as_earlier_versions_kept_it": earlier,
    }


def _as_a_redis_list(bench: Bench, prefix: str, contacts: int) -> int:
    """Write the audience as earlier versions did, measure, delete it again."""
    client = redis.Redis.from_url(bench.stack["REDIS_URL"])
    key = f"{prefix}campaign:memory:audience"
    try:
        before = int(client.info("memory")["used_memory"])
        chunk: list[str] = []
        for i in range(contacts):
            recipient = Recipient(contact_id=f"c{i}", phone=phone(i))
            chunk.append(recipient.model_dump_json(by_alias=True))
            if len(chunk) == AUDIENCE_CHUNK:
                client.rpush(key, *chunk)
                chunk = []
        if chunk:
            client.rpush(key, *chunk)
        return int(client.info("memory")["used_memory"]) - before
    finally:
        client.delete(key)
        client.close()


def _write_contacts(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name", "city"])
        for i in range(rows):
            writer.writerow([phone(i), f"Contact {i}", "Vigo"])


class _PeakRss:
    """The largest RSS of a process (and its children) while the block runs."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.mb = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.mb = max(self.mb, rss_mb(self._pid))
            self._stop.wait(self._interval_s)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
