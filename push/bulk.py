"""Many rows into one table inside the caller's transaction, fast on both backends.

Detection may enqueue a hundred thousand notifications for one policy; SQLAlchemy's
per-row parameter processing would dominate that. PostgreSQL gets ``COPY`` into a
transaction-scoped staging table and one ``INSERT … SELECT … ON CONFLICT``; SQLite gets
the driver's ``executemany`` with values already in the text forms SQLAlchemy itself
writes (so reads through SQLAlchemy parse them back).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def insert_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str] | None = None,
    update: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any] | None:
    """Insert ``rows`` (tuples in ``columns`` order).

    With ``conflict`` (the unique key's columns), a row that already exists is skipped,
    or, with ``update``, has those columns overwritten (an upsert). With ``returning``
    (PostgreSQL only), the values of that column of the rows actually written.
    """
    if not rows:
        return [] if returning else None
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, columns, rows, conflict, update, returning)
    if returning:
        raise ValueError("returning is only supported on PostgreSQL")
    _executemany(conn, table, columns, rows, conflict, update)
    return None


def _on_conflict(conflict: Sequence[str] | None, update: Sequence[str]) -> str:
    if conflict is None:
        return ""
    target = ", ".join(conflict)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"


def _sqlite_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _executemany(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]], conflict: Sequence[str] | None,
                 update: Sequence[str]) -> None:
    marks = ", ".join("?" for _ in columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
           f"{_on_conflict(conflict, update)}")
    columns_in = list(zip(*rows, strict=True))
    converted = [_sqlite_column(col) for col in columns_in]
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, zip(*converted, strict=True))
    finally:
        cur.close()


def _sqlite_column(col: Sequence[Any]) -> Sequence[Any]:
    """One column in SQLite's terms, converting per distinct value rather than per row."""
    kinds = set(map(type, col))
    kinds.discard(type(None))
    if kinds <= {str, int}:
        return col
    if kinds <= {float, int}:
        return [None if v != v else v for v in col]  # NaN is the only value unequal to itself
    cache: dict[Any, Any] = {}
    out = []
    for v in col:
        if v not in cache:
            cache[v] = _sqlite_value(v)
        out.append(cache[v])
    return out


def _pg_column(col: Sequence[Any]) -> Sequence[Any]:
    """NaN becomes NULL (unknown); everything else psycopg adapts itself."""
    if float in set(map(type, col)):
        return [None if v != v else v for v in col]
    return col


def _copy(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
          rows: Sequence[Sequence[Any]], conflict: Sequence[str] | None,
          update: Sequence[str], returning: str | None = None) -> list[Any] | None:
    cols = ", ".join(columns)
    stage = f"stage_{table.name}_{uuid.uuid4().hex[:12]}"
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {table.name} WITH NO DATA"
    )
    converted = [_pg_column(col) for col in zip(*rows, strict=True)]
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in zip(*converted, strict=True):
                copy.write_row(row)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage}"
        f"{_on_conflict(conflict, update)}" + (f" RETURNING {returning}" if returning else "")
    )
    out = [r[0] for r in result] if returning else None
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    return out
