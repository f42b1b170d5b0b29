"""Contacts from a CSV upload, parsed incrementally and written in chunks.

The upload is read through a text decoder by ``csv.reader`` a chunk of rows at a
time (in a worker thread, since the spooled upload is a blocking file), and each
chunk goes to Redis in one round trip: memory stays flat whatever the file size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool

from services.api.contacts_store import Contact, ContactStore
from services.api.errors import InvalidInput
from services.api.phones import INVALID_PHONE
from shared.phones import normalise_phone

MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    message: str


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)

    def reject(self, row: int, message: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, message))


@dataclass(frozen=True, slots=True)
class Columns:
    phone: int
    name: int | None
    vars: dict[int, str]

    @classmethod
    def from_header(cls, header: list[str]) -> Columns:
        names = [column.strip() for column in header]
        lowered = [column.lower() for column in names]
        if "phone" not in lowered:
            raise InvalidInput(("body", "file"), "the header row needs a 'phone' column")
        name = lowered.index("name") if "name" in lowered else None
        phone = lowered.index("phone")
        extra = {i: column for i, column in enumerate(names) if i not in (phone, name) and column}
        return cls(phone, name, extra)


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


class _Rows:
    """``(line number, fields)`` of non-blank records, pulled a chunk at a time."""

    def __init__(self, binary: BinaryIO) -> None:
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
        self._reader = csv.reader(self._text)
        self.errors: list[tuple[int, str]] = []

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.errors.append((self._reader.line_num, f"unreadable row: {error}"))
                continue
            if any(cell.strip() for cell in row):
                yield self._reader.line_num, row

    def take(self, count: int) -> list[tuple[int, list[str]]]:
        records = self._records()
        return [record for _, record in zip(range(count), records, strict=False)]

    def detach(self) -> None:
        # Leave the upload open: its owner closes it.
        self._text.detach()


async def import_contacts(
    binary: BinaryIO, store: ContactStore, user_id: str, default_region: str, chunk_rows: int
) -> ImportReport:
    report = ImportReport()
    rows = _Rows(binary)
    try:
        header = await run_in_threadpool(rows.take, 1)
        if not header:
            raise InvalidInput(("body", "file"), "the file is empty: a header row is needed")
        columns = Columns.from_header(header[0][1])
        while chunk := await run_in_threadpool(rows.take, chunk_rows):
            for line, message in rows.errors:
                report.reject(line, message)
            rows.errors.clear()
            contacts = []
            for line, row in chunk:
                raw_phone = _cell(row, columns.phone)
                if not raw_phone:
                    report.reject(line, "phone is missing")
                    continue
                phone = normalise_phone(raw_phone, default_region)
                if phone is None:
                    report.reject(line, f"{INVALID_PHONE}: {raw_phone!r}")
                    continue
                variables = {
                    column: value
                    for index, column in columns.vars.items()
                    if (value := _cell(row, index))
                }
                contacts.append(Contact(phone, _cell(row, columns.name) or None, variables))
            result = await store.upsert(user_id, contacts)
            report.created += result.created
            report.updated += result.updated
            report.imported += result.created + result.updated
        for line, message in rows.errors:
            report.reject(line, message)
    finally:
        rows.detach()
    return report
