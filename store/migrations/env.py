"""Alembic environment: migrations always run on a connection handed in by ``store.migrate``.

There is no ``alembic.ini``: the store builds the configuration in code, so every
command (CLI, API, tests) upgrades the same way. On PostgreSQL an advisory lock makes
concurrent upgrades (two API workers starting at once) wait for each other instead of
racing to create the same tables.
"""

from __future__ import annotations

from alembic import context

from store.schema import metadata

MIGRATION_LOCK_ID = 724_100_501  # any constant; shared by every process of this project

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
    context.run_migrations()
