# ruff: noqa: F811  (pytest fixtures imported from the support module)
"""The migrations build exactly the tables the code uses, on both backends."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store.migrate import current_revisions, downgrade_all, head_revisions, upgrade
from store.schema import metadata
from store.store import Store
from tests._store_support import postgres_url, store, store_url  # noqa: F401


def test_schema_equals_migrations(store: Store) -> None:
    assert current_revisions(store.engine) == head_revisions()
    mine = {t.name for t in metadata.sorted_tables}
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    # Other packages (push, runs) add their own tables by their own revisions: compare ours.
    ours = [d for d in diffs if _table_of(d) in mine]
    assert ours == []


def _table_of(diff: object) -> str | None:
    if isinstance(diff, list):  # modify_* diffs come as lists of tuples
        return _table_of(diff[0])
    assert isinstance(diff, tuple)
    kind, obj = diff[0], diff[1]
    if kind in ("add_table", "remove_table"):
        return str(obj.name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(obj.table.name)
    if kind in ("add_fk", "remove_fk"):
        return str(obj.parent.name)
    return str(diff[2])  # add_column/remove_column/modify_*: (kind, schema, table, ...)


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    s = Store(url)
    downgrade_all(s.engine)
    assert sa.inspect(s.engine).get_table_names() == ["alembic_version"]
    upgrade(s.engine)
    assert {"firms", "policies", "api_keys", "audit_log", "runs", "match_results"} <= set(
        sa.inspect(s.engine).get_table_names())
    assert s.revision("firms_revision") == 0
    s.close()
