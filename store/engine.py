"""Engines for the two backends, with the settings each needs to be a safe store.

SQLite: pysqlite's own transaction handling is switched off (it does not wrap DDL and
starts transactions late), so SQLAlchemy's ``begin()`` really is ``BEGIN`` — ``BEGIN
IMMEDIATE`` for write transactions so that two writers queue on the lock rather than
fail half-way. WAL lets readers (the API) go on while an import writes; a busy timeout
makes a second writer wait. Foreign keys are on.

Both: JSON columns are written with Chinese unescaped, so that the database is readable
with ``psql``/``sqlite3`` by the people who run it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_MS = 60_000


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (already normalised by :func:`store.url.database_url`)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, json_serializer=_json_dumps)
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
