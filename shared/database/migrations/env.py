"""Alembic's environment: runs on the connection shared.database.migrate opened (under
its advisory lock); revisions are plain SQL, so there is no metadata to compare."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
