"""Contacts from a CSV upload, parsed incrementally and written in chunks.

The upload is read through a text decoder by ``csv.reader`` a chunk of rows at a
time, and each chunk goes to PostgreSQL in one round trip: memory stays flat whatever
the file size. A chunk is read and checked (its phone numbers parsed) in a worker
thread, since the spooled upload is a blocking file, while the chunk before it is
being written: the api's work and the database's overlap on two cores.

Nothing is altered on the way: a file that is not UTF-8 is refused whole before a row
is imported (a Latin-1 file would otherwise turn "José" into "Jos\ufffd"), and a row
that is malformed (a quoted field running over lines, more cells than the header,
control or bidi-override characters) is reported by its line rather than imported.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool

from services.api.contacts_store import Contact, ContactStore
from services.api.errors import InvalidInput
from services.api.phones import INVALID_PHONE
from services.api.safe_text import unsafe_character
from services.api.schemas.base import MAX_VARS
from shared.phones import normalise_phone

MAX_REPORTED_ERRORS = 20
UTF8_SCAN_CHUNK = 64 * 1024


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
    # Contacts that joined the list the import was made into (not already on it).
    joined: int = 0
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
        if len(extra) > MAX_VARS:
            raise InvalidInput(
                ("body", "file"),
                f"the header names {len(extra):,} variable columns; at most {MAX_VARS} "
                "(besides phone and name), as for a contact's vars",
            )
        for column in names:
            if (found := unsafe_character(column)) is not None:
                raise InvalidInput(("body", "file"), f"header column {column!r}: {found}")
        return cls(phone, name, extra)


def check_utf8(binary: BinaryIO) -> None:
    """Raise InvalidInput naming the line and byte where ``binary`` stops being UTF-8;
    reads it through once, a chunk at a time, and rewinds it."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes read before this chunk
    line = 1
    try:
        while True:
            chunk = binary.read(UTF8_SCAN_CHUNK)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                data = pending + chunk
                position = offset - len(pending) + error.start
                line += data[: error.start].count(b"\n")
                bad = data[error.start : error.start + 1].hex().upper() or "end of file"
                raise InvalidInput(
                    ("body", "file"),
                    f"not UTF-8: byte 0x{bad} at offset {position:,} (line {line}); "
                    "save the file as UTF-8 (CSV UTF-8 in Excel)",
                ) from None
            if not chunk:
                return
            offset += len(chunk)
            line += chunk.count(b"\n")
    finally:
        binary.seek(0)


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _unsafe_cell(row: list[str], columns: Columns) -> str | None:
    named = {columns.name: "name"} if columns.name is not None else {}
    for index, column in {**named, **columns.vars}.items():
        if (found := unsafe_character(_cell(row, index))) is not None:
            return f"{column}: control and bidi-override characters are not allowed: {found}"
    return None


class _Rows:
    """``(line number, fields)`` of non-blank records, pulled a chunk at a time."""

    def __init__(self, binary: BinaryIO) -> None:
        # Strict: check_utf8 has read the file through already; a BOM is skipped.
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
        self._reader = csv.reader(self._text)
        self.errors: list[tuple[int, str]] = []

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            first_line = self._reader.line_num + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.errors.append((self._reader.line_num, f"unreadable row: {error}"))
                continue
            last_line = self._reader.line_num
            if last_line > first_line:
                # A contact is one line: a quoted field running on swallowed the next rows.
                self.errors.append(
                    (
                        first_line,
                        f"a quoted field runs from line {first_line} to line {last_line} "
                        "(an unterminated quote?); none of those lines was imported",
                    )
                )
                continue
            if any(cell.strip() for cell in row):
                yield first_line, row

    def take(self, count: int) -> list[tuple[int, list[str]]]:
        records = self._records()
        return [record for _, record in zip(range(count), records, strict=False)]

    def detach(self) -> None:
        # Leave the upload open: its owner closes it.
        self._text.detach()


@dataclass(frozen=True, slots=True)
class _Chunk:
    contacts: list[Contact]
    # (line, why) of the rows left out, in the order they were met.
    rejected: list[tuple[int, str]]


def _read_chunk(
    rows: _Rows, columns: Columns, header_width: int, default_region: str, count: int
) -> _Chunk | None:
    """The next ``count`` rows as contacts and rejections; None at the end of the file
    (rows.errors then holds the last unreadable rows)."""
    chunk = rows.take(count)
    if not chunk:
        return None
    rejected = list(rows.errors)
    rows.errors.clear()
    contacts = []
    for line, row in chunk:
        if len(row) > header_width and any(cell.strip() for cell in row[header_width:]):
            rejected.append(
                (line, f"{len(row)} cells, but the header names {header_width} columns")
            )
            continue
        if (problem := _unsafe_cell(row, columns)) is not None:
            rejected.append((line, problem))
            continue
        raw_phone = _cell(row, columns.phone)
        if not raw_phone:
            rejected.append((line, "phone is missing"))
            continue
        phone = normalise_phone(raw_phone, default_region)
        if phone is None:
            rejected.append((line, f"{INVALID_PHONE}: {raw_phone!r}"))
            continue
        variables = {
            column: value for index, column in columns.vars.items() if (value := _cell(row, index))
        }
        contacts.append(Contact(phone, _cell(row, columns.name) or None, variables))
    return _Chunk(contacts, rejected)


async def import_contacts(
    binary: BinaryIO,
    store: ContactStore,
    user_id: str,
    default_region: str,
    chunk_rows: int,
    joined: Callable[[list[str]], Awaitable[int]] | None = None,
) -> ImportReport:
    """Import the file's contacts a chunk at a time; ``joined`` is given each chunk's
    contact ids (a list they join) and returns how many were new there."""
    report = ImportReport()
    await run_in_threadpool(check_utf8, binary)
    rows = _Rows(binary)
    reading: asyncio.Future[_Chunk | None] | None = None
    try:
        header = await run_in_threadpool(rows.take, 1)
        if not header:
            raise InvalidInput(("body", "file"), "the file is empty: a header row is needed")
        columns = Columns.from_header(header[0][1])
        read = partial(_read_chunk, rows, columns, len(header[0][1]), default_region, chunk_rows)
        reading = asyncio.ensure_future(run_in_threadpool(read))
        while (chunk := await reading) is not None:
            # The next chunk is read while this one is written (one reader at a time).
            reading = asyncio.ensure_future(run_in_threadpool(read))
            for line, message in chunk.rejected:
                report.reject(line, message)
            result = await store.upsert(user_id, chunk.contacts)
            if joined is not None and result.ids:
                report.joined += await joined(result.ids)
            report.created += result.created
            report.updated += result.updated
            report.imported += result.created + result.updated
        for line, message in rows.errors:
            report.reject(line, message)
    finally:
        if reading is not None:
            # A failed write leaves a read running in its thread: the file stays open
            # (and attached) until it is done.
            await asyncio.wait([reading])
            if not reading.cancelled():
                reading.exception()  # retrieved: the write's failure is the one raised
        rows.detach()
    return report
