"""Fixtures for the store and API tests: the same tests on SQLite and on PostgreSQL.

PostgreSQL is required, not optional: the tests FAIL when it cannot be reached (CI
must start it). Each test session creates its own database on the server named by
``POLICY_MATCH_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``)
and drops it at the end, so parallel sessions and leftovers never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from store.store import Store

ADMIN_URL = os.environ.get(
    "POLICY_MATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
KEEP_TABLES = {"alembic_version", "store_state"}


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database for this session (dropped afterwards)."""
    name = f"pm_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(
            f"PostgreSQL is required for the store tests and is not reachable at {ADMIN_URL}: "
            f"{e}. Start it (Debian: apt-get install postgresql; pg_ctlcluster 15 main start) "
            "or point POLICY_MATCH_TEST_POSTGRES_URL at a server.",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(ADMIN_URL, name)
    Store(url).close()  # migrate once
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            names = [t for t in sa.inspect(conn).get_table_names() if t not in KEEP_TABLES]
            if names:
                conn.exec_driver_sql(
                    "TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"
                )
            conn.exec_driver_sql("UPDATE store_state SET value = 0")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty, migrated store, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'policy_match.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    try:
        yield s
    finally:
        s.close()
