"""Write a chunk of firm rows in one statement batch: PostgreSQL ``COPY``, SQLite executemany.

Both upsert: a firm imported again is replaced as a whole (its profile is a snapshot as
of the import's date, not a patch). On PostgreSQL the rows are copied into a temporary
staging table that lives for the chunk's transaction and merged with one
``INSERT … ON CONFLICT``; this is the fast path for a million firms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.firm_rows import JSON_FIELDS
from store.schema import firms

FIRM_COLUMNS: tuple[str, ...] = tuple(c.name for c in firms.columns)
_UPDATE_COLUMNS = tuple(c for c in FIRM_COLUMNS if c != "uscc")


def write_firm_rows(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert ``rows`` (every column of ``firms``) inside the caller's transaction."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy_upsert(conn, rows)
    else:
        _executemany_upsert(conn, rows)


def _executemany_upsert(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    stmt = sqlite_insert(firms) if conn.dialect.name == "sqlite" else pg_insert(firms)
    stmt = stmt.on_conflict_do_update(
        index_elements=[firms.c.uscc],
        set_={c: stmt.excluded[c] for c in _UPDATE_COLUMNS},
    )
    conn.execute(stmt, list(rows))


def _copy_upsert(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    cols = ", ".join(FIRM_COLUMNS)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS firms_stage "
        "(LIKE firms INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    raw = conn.connection.driver_connection
    assert raw is not None  # a live connection inside the caller's transaction
    with raw.cursor() as cur, cur.copy(f"COPY firms_stage ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[c], ensure_ascii=False)
                    if c in JSON_FIELDS and row[c] is not None
                    else row[c]
                    for c in FIRM_COLUMNS
                ]
            )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATE_COLUMNS)
    conn.exec_driver_sql(
        f"INSERT INTO firms ({cols}) SELECT {cols} FROM firms_stage "
        f"ON CONFLICT (uscc) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql("TRUNCATE firms_stage")
