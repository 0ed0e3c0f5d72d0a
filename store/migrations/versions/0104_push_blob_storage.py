"""Push: store snapshot and fan-out blobs without PostgreSQL's own compression.

Revision ID: 0104_push_blob_storage
Revises: 0103_push_secrets
Create Date: 2026-11-26

The ``data`` columns of ``push_snapshots`` and ``push_fanout`` hold Arrow streams that
``push.columnar`` already compressed with zstd. PostgreSQL's default ``EXTENDED``
storage tries pglz on every value over ~2 kB before storing it out of line, and fails on
compressed bytes: publishing a policy to a million firms (512 blobs, ~27 MB) spent
~0.3 s in those attempts. ``EXTERNAL`` stores the values out of line as they are.
SQLite has no such setting; there this revision does nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0104_push_blob_storage"
down_revision = "0103_push_secrets"
branch_labels = None
depends_on = None

_COLUMNS = (("push_snapshots", "data"), ("push_fanout", "data"))


def _set(storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}")


def upgrade() -> None:
    _set("EXTERNAL")


def downgrade() -> None:
    _set("EXTENDED")
