"""The fault suite reuses the end-to-end system fixtures and collects the fault table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import make_system, sandbox_admin  # noqa: F401  (fixtures)
from tests.faults.harness import FaultTable

# Where a run leaves its table; docs/reliability.md is written from it.
TABLE_PATH = Path(__file__).resolve().parents[2] / ".run" / "fault-table.json"
_tables: list[FaultTable] = []


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    table = FaultTable(TABLE_PATH)
    _tables.append(table)
    yield table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for table in _tables:
        if table.rows:
            terminalreporter.section("fault table (for docs/reliability.md)")
            terminalreporter.write_line(table.markdown())
