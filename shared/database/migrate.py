"""Bring the schema to the newest revision with Alembic, one runner at a time.

Every api, dispatcher and metrics pod may run the migration as it starts (an init
container): a PostgreSQL advisory lock makes the others wait, then find nothing to do.
The revisions are plain SQL (migrations/versions); SQLAlchemy only carries Alembic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from alembic import command, op
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant shared by all runners; "cq" and "migrate" in ASCII.
ADVISORY_LOCK_KEY = 0x6371_6D69_6772_6174


def run_script(sql: str) -> None:
    """Run a revision's SQL, several statements at once, as written.

    SQLAlchemy's asyncpg dialect prepares every statement, and PostgreSQL prepares one
    statement at a time: the script goes to asyncpg's own connection instead, whose
    ``execute`` without arguments sends it as one simple query, in the transaction
    Alembic opened on that connection.
    """
    driver = op.get_bind().connection.dbapi_connection.driver_connection
    await_only(driver.execute(sql))


def sqlalchemy_url(database_url: str) -> str:
    """The libpq URL in SQLAlchemy's spelling for the asyncpg driver."""
    parsed = urlparse(database_url)
    return urlunparse(parsed._replace(scheme="postgresql+asyncpg"))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's options are interpolated: a % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade to ``revision`` under the advisory lock; nothing happens when current."""
    asyncio.run(_run(database_url, lambda config: command.upgrade(config, revision)))


def downgrade(database_url: str, revision: str) -> None:
    asyncio.run(_run(database_url, lambda config: command.downgrade(config, revision)))


def current_revision(database_url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(sqlalchemy_url(database_url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                exists = await connection.scalar(text("SELECT to_regclass('alembic_version')"))
                if exists is None:
                    return None
                return await connection.scalar(text("SELECT version_num FROM alembic_version"))
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def _run(database_url: str, step: Callable[[Config], None]) -> None:
    config = alembic_config(database_url)
    engine = create_async_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
            await connection.commit()

            def run(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                step(config)

            try:
                await connection.run_sync(run)
                await connection.commit()
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await connection.commit()
    finally:
        await engine.dispose()
