"""Bring a database to the newest schema (Alembic, configured in code).

``upgrade`` goes to *all* heads: independent packages (push, runs) may add revisions
that branch from the same parent without knowing of each other, and both apply.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: sa.Engine) -> None:
    """Apply every pending revision; a no-op (one query) when the schema is current."""
    if current_revisions(engine) == head_revisions():
        return
    with engine.connect().execution_options(write=True) as conn:
        command.upgrade(alembic_config(conn), "heads")
        conn.commit()


def downgrade_all(engine: sa.Engine) -> None:
    """Drop everything the migrations built (tests of the migrations themselves)."""
    with engine.connect().execution_options(write=True) as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
