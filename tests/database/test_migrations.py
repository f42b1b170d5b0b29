"""The schema's migrations: up from nothing, down to nothing and up again, one runner
at a time when several start together, and a clear line when DATABASE_URL is wrong."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from shared.database.migrate import current_revision, downgrade, migrate
from tests.conftest import StackEndpoints, scratch_database

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {"users", "api_tokens", "contacts"}


@pytest.fixture
def empty_database(stack: StackEndpoints) -> Iterator[str]:
    with scratch_database(stack, "empty_") as url:
        yield url


def _tables(url: str) -> set[str]:
    return asyncio.run(_read_tables(url))


async def _read_tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows} - {"alembic_version"}
    finally:
        await connection.close()


def test_up_down_and_up_again(empty_database: str) -> None:
    assert current_revision(empty_database) is None
    migrate(empty_database)
    head = current_revision(empty_database)
    assert head is not None
    assert TABLES <= _tables(empty_database)

    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    migrate(empty_database)
    assert current_revision(empty_database) == head
    assert TABLES <= _tables(empty_database)


def test_runners_that_start_together_take_turns(empty_database: str) -> None:
    # Each api, dispatcher and metrics pod migrates as it starts: without the advisory
    # lock two would both see an empty schema and one would fail on CREATE TABLE.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for result in [pool.submit(migrate, empty_database) for _ in range(4)]:
            result.result()
    assert current_revision(empty_database) is not None


def test_the_command_names_a_bad_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = "mysql://nobody@localhost/db"
    result = subprocess.run(
        [sys.executable, "-m", "shared.database", "migrate"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "DATABASE_URL" in result.stderr
