# ruff: noqa: F811  (pytest fixtures imported from the support modules)
"""The warm firm table (push.warm) on real SQLite and PostgreSQL: equal to a fresh load."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.synthetic import AS_OF as SYN_AS_OF
from bench.synthetic import firm_records, synthetic_firms, synthetic_policies
from matcher.changes import evaluate_policy
from matcher.fields import PROFILE_FIELDS
from matcher.policy import Policy
from profiles.read import normalize_profile
from push.firm_table import encoded, read_firms
from push.warm import WarmFirms, WarmPart
from store.schema import firms, store_state
from store.store import Store
from tests._push_support import (  # noqa: F401 - clock, store are fixtures
    AS_OF,
    clock,
    firm,
    import_firms,
    policy,
    store,
)
from tests._store_support import postgres_url, store_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------------------------------------------- helpers
def _plain(v: Any) -> Any:
    """A cell as a comparable Python value (every unknown is None)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    if isinstance(v, np.generic):
        return v.item()
    return v


# Stored fields and the derived attributes that depend on the date.
COLUMNS = (*PROFILE_FIELDS, "age_years", "qualification_mask", "size_class", "rd_ratio")
REVENUE = COLUMNS.index("revenue")


def live_rows(parts: list[WarmPart]) -> list[tuple[Any, ...]]:
    """Every live row of the parts as (uscc, values of ``COLUMNS``…), in part order."""
    out = []
    for part in parts:
        frame = part.firms.frame
        keep = np.ones(part.firms.n, dtype=bool) if part.live is None else part.live
        cols = [frame[c].to_numpy(dtype=object) for c in COLUMNS]
        for i in np.flatnonzero(keep):
            out.append(tuple(_plain(col[i]) for col in cols))
    return out


def stored_rows(conn: sa.Connection, as_of: dt.date = AS_OF) -> list[tuple[Any, ...]]:
    """The same, freshly read and encoded, sorted by USCC."""
    fresh = encoded(read_firms(conn, PROFILE_FIELDS), as_of)
    return sorted(live_rows([WarmPart(fresh, None)]))


def verdicts_over_parts(parts: list[WarmPart], pol: Policy,
                        as_of: dt.date) -> dict[str, int]:
    """uscc -> status of ``pol`` over the live rows of ``parts`` (each firm once)."""
    out: dict[str, int] = {}
    for part in parts:
        status = evaluate_policy(part.firms, pol, as_of).status[0]
        keep = np.ones(part.firms.n, dtype=bool) if part.live is None else part.live
        for u, s in zip(part.firms.uscc[keep], status[keep], strict=True):
            assert u not in out, f"{u} is live twice"
            out[str(u)] = int(s)
    return out


def counter(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(store_state.c.value)
                            .where(store_state.c.key == "firms_revision")).scalar_one())


def warm_parts(store: Store, warm: WarmFirms, as_of: dt.date = AS_OF) -> list[WarmPart]:
    with store.transaction(write=False) as conn:
        return warm.parts(conn, as_of)


def put(store: Store, record: dict[str, Any]) -> None:
    store.put_firm(record, actor="test")


# --------------------------------------------------------------------------- tests
def test_parts_evaluate_like_a_fresh_load(store: Store) -> None:
    """After changes and new firms, every policy gives the verdicts of a cold load."""
    frame = synthetic_firms(1200, seed=5)
    records = [normalize_profile(r, "syn") for r in firm_records(frame)]
    import_firms(store, records)
    pols = synthetic_policies(25, seed=6)
    warm = WarmFirms()
    warm_parts(store, warm, SYN_AS_OF)
    # Changed profiles (some across regions, which moves them in the region order)
    # and new firms.
    for i, rec in enumerate(records[:40]):
        changed = dict(rec, revenue=float(1_000_000 * (i + 1)))
        if i % 3 == 0:
            changed["region_code"] = records[-1 - i]["region_code"]
        put(store, normalize_profile(changed, "t"))
    extra = [normalize_profile(r, "syn") for r in firm_records(synthetic_firms(1300, seed=9))
             if r["uscc"] not in {x["uscc"] for x in records}][:30]
    import_firms(store, extra)
    with store.transaction(write=False) as conn:
        parts = warm.parts(conn, SYN_AS_OF)
        fresh = encoded(read_firms(conn, PROFILE_FIELDS), SYN_AS_OF)
    assert len(parts) == 2 and parts[1].firms.n == 70
    assert parts[0].live is not None and int((~parts[0].live).sum()) == 40
    matched = 0
    for pol in pols:
        want = {str(u): int(s) for u, s in zip(
            fresh.uscc, evaluate_policy(fresh, pol, SYN_AS_OF).status[0], strict=True)}
        got = verdicts_over_parts(parts, pol, SYN_AS_OF)
        assert got == want, pol.id
        matched += sum(1 for s in got.values() if s)
    assert matched > 0  # the policies match someone: the comparison is not vacuous


def test_a_changed_firm_moves_to_the_overlay(store: Store) -> None:
    import_firms(store, [firm(i) for i in range(1, 6)])
    warm = WarmFirms()
    (base,) = warm_parts(store, warm)
    assert base.live is None and base.firms.n == 5 and warm.reads == 5
    put(store, firm(2, revenue=7_000_000.0))
    parts = warm_parts(store, warm)
    assert len(parts) == 2 and parts[0].firms is base.firms
    over = parts[1]
    assert over.live is None and list(over.firms.uscc) == [firm(2)["uscc"]]
    assert over.firms.frame["revenue"].tolist() == [7_000_000.0]
    assert parts[0].live is not None
    assert list(base.firms.uscc[~parts[0].live]) == [firm(2)["uscc"]]
    assert warm.reads == 6 and warm.base_builds == 1
    # A new firm joins the overlay; the whole overlay is read again.
    put(store, firm(9))
    parts = warm_parts(store, warm)
    assert sorted(parts[1].firms.uscc) == sorted([firm(2)["uscc"], firm(9)["uscc"]])
    assert list(base.firms.uscc[~parts[0].live]) == [firm(2)["uscc"]]
    assert warm.reads == 8 and warm.base_builds == 1 and warm.overlay_builds == 2
    with pytest.raises(ValueError):
        parts[0].live[0] = False  # shared by every caller: read-only
    with store.transaction(write=False) as conn:
        assert live_rows(parts) and sorted(live_rows(parts)) == stored_rows(conn)
        assert warm.revision is not None and warm.revision < counter(conn)


def test_nothing_changed_means_nothing_read(store: Store) -> None:
    import_firms(store, [firm(i) for i in range(1, 4)])
    warm = WarmFirms()
    first = warm_parts(store, warm)
    again = warm_parts(store, warm)
    assert warm.reads == 3 and again[0] is first[0]
    put(store, firm(1, employees=7))
    warm_parts(store, warm)
    assert warm.reads == 4
    # Policy writes move other counters only.
    store.import_policies([policy()], actor="test", source="t", publish=True)
    for _ in range(3):
        parts = warm_parts(store, warm)
    assert warm.reads == 4 and warm.overlay_builds == 1 and len(parts) == 2


def test_a_new_date_rebuilds_the_base(store: Store) -> None:
    """Derived attributes follow the date; the base is re-derived without a re-read,
    the overlay is read again."""
    expiring = [{"name": "高新技术企业", "valid_until": "2026-07-14"}]
    import_firms(store, [firm(i, established_on="2016-07-15", qualifications=expiring)
                         for i in range(1, 4)])
    warm = WarmFirms()
    (a,) = warm_parts(store, warm, dt.date(2026, 7, 14))
    (b,) = warm_parts(store, warm, dt.date(2026, 7, 15))
    assert warm.base_builds == 2 and warm.reads == 3
    assert set(a.firms.frame["age_years"]) == {9.0}
    assert set(b.firms.frame["age_years"]) == {10.0}
    assert (a.firms.qualification_mask != b.firms.qualification_mask).all()
    put(store, firm(2, established_on="2020-01-01"))
    parts = warm_parts(store, warm, dt.date(2026, 7, 15))
    assert warm.reads == 4
    parts = warm_parts(store, warm, dt.date(2027, 1, 1))
    assert warm.base_builds == 3 and warm.reads == 5 and len(parts) == 2
    with store.transaction(write=False) as conn:
        assert sorted(live_rows(parts)) == stored_rows(conn, dt.date(2027, 1, 1))


def test_a_large_overlay_is_folded_into_a_new_base(store: Store) -> None:
    import_firms(store, [firm(i) for i in range(1, 6)])
    warm = WarmFirms(overlay_limit=2)
    warm_parts(store, warm)
    put(store, firm(1, employees=1))
    put(store, firm(2, employees=2))
    assert len(warm_parts(store, warm)) == 2 and warm.base_builds == 1
    put(store, firm(3, employees=3))
    parts = warm_parts(store, warm)
    assert warm.base_builds == 2 and len(parts) == 1 and parts[0].live is None
    with store.transaction(write=False) as conn:
        assert warm.revision == counter(conn)
        assert sorted(live_rows(parts)) == stored_rows(conn)
    warm.clear()
    assert warm.revision is None
    warm_parts(store, warm)
    assert warm.base_builds == 3


def _write_in_transaction(conn: sa.Connection, uscc: str, revenue: float) -> None:
    """A firm write as the store does it: bump the counter, stamp the row."""
    rev = conn.execute(sa.update(store_state).where(store_state.c.key == "firms_revision")
                       .values(value=store_state.c.value + 1)
                       .returning(store_state.c.value)).scalar_one()
    conn.execute(sa.update(firms).where(firms.c.uscc == uscc)
                 .values(revenue=revenue, revision=rev))


@pytest.mark.parametrize("built", ["base", "overlay"])
def test_a_rolled_back_view_is_not_kept(store: Store, built: str) -> None:
    """A revision number taken by a rolled-back write is reused by the next write: what
    was built from the rolled-back view must not be served for it."""
    import_firms(store, [firm(i) for i in range(1, 4)])
    warm = WarmFirms()
    if built == "overlay":
        warm_parts(store, warm)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        _write_in_transaction(conn, firm(1)["uscc"], 1.0)
        seen = warm.parts(conn, AS_OF)
        assert 1.0 in {r[REVENUE] for r in live_rows(seen)}
        raise RuntimeError("roll back")
    with store.transaction() as conn:  # the same revision number, another firm
        _write_in_transaction(conn, firm(2)["uscc"], 2.0)
    with store.transaction(write=False) as conn:
        parts = warm.parts(conn, AS_OF)
        assert sorted(live_rows(parts)) == stored_rows(conn)
    revenues = {r[REVENUE] for r in live_rows(parts)}
    assert 1.0 not in revenues and 2.0 in revenues


def test_rollbacks_of_transactions_that_wrote_no_firm_keep_the_table(store: Store) -> None:
    """A read-only connection closed without commit, or a detection that wrote other
    rows and failed, read committed firms only: nothing is rebuilt after them."""
    import_firms(store, [firm(i) for i in range(1, 4)])
    warm = WarmFirms()
    with store.engine.connect() as conn:
        warm.parts(conn, AS_OF)  # autobegun; closing rolls back
    put(store, firm(1, employees=9))
    with store.engine.connect() as conn:
        warm.parts(conn, AS_OF)
    concurrent = store.dialect == "postgresql"  # SQLite's writer lock serialises writes
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(sa.update(store_state).where(store_state.c.key == "policies_revision")
                     .values(value=store_state.c.value + 1))
        if concurrent:  # a firm written and committed by another transaction meanwhile
            put(store, firm(2, employees=8))
        warm.parts(conn, AS_OF)
        raise RuntimeError("roll back")
    warm_parts(store, warm)
    assert warm.base_builds == 1
    assert warm.reads == 3 + 1 + (2 if concurrent else 0)


def test_a_committed_view_is_kept(store: Store) -> None:
    import_firms(store, [firm(i) for i in range(1, 4)])
    warm = WarmFirms()
    warm_parts(store, warm)
    with store.transaction() as conn:
        _write_in_transaction(conn, firm(1)["uscc"], 1.0)
        warm.parts(conn, AS_OF)
    reads = warm.reads
    parts = warm_parts(store, warm)
    assert warm.reads == reads  # built inside the transaction, still good after commit
    assert 1.0 in {r[REVENUE] for r in live_rows(parts)}


def test_an_older_snapshot_gets_its_own_view(store: Store) -> None:
    """A transaction that sees less than the table holds (its snapshot predates the last
    write) gets the firms as it sees them, not newer ones."""
    import_firms(store, [firm(i) for i in range(1, 4)])
    warm = WarmFirms()
    with store.engine.connect() as old:
        if store.dialect == "postgresql":
            old = old.execution_options(isolation_level="REPEATABLE READ")
        with old.begin():
            before = stored_rows(old)  # the snapshot is taken here
            put(store, firm(2, revenue=3.0))
            warm_parts(store, warm)  # the table now holds the write
            assert sorted(live_rows(warm.parts(old, AS_OF))) == before == stored_rows(old)
    assert sorted(live_rows(warm_parts(store, warm))) != before


def test_threads_share_one_build(store: Store) -> None:
    import_firms(store, [firm(i) for i in range(1, 30)])
    warm = WarmFirms()
    warm_parts(store, warm)
    put(store, firm(3, employees=3))
    results: list[list[WarmPart]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(warm_parts(store, warm))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert warm.base_builds == 1 and warm.overlay_builds == 1 and warm.reads == 30
    assert all(r[1].firms is results[0][1].firms for r in results)


# ------------------------------------------------------------------------ property
POOL = 6  # firms the random writes choose from
_write = st.tuples(st.just("put"), st.integers(1, POOL),
                   st.sampled_from([None, 0.0, 5_000_000.0, 30_000_000.0]),
                   st.sampled_from(["430111", "430211", "110105"]),
                   st.sampled_from([None, [], [{"name": "高新技术企业",
                                                "valid_until": "2027-12-31"}]]))
_batch = st.tuples(st.just("import"), st.lists(st.integers(1, POOL), min_size=1, max_size=4,
                                               unique=True), st.sampled_from([None, 1e6]))
_look = st.tuples(st.just("parts"), st.sampled_from([AS_OF, dt.date(2028, 3, 1)]))
_ops = st.lists(st.one_of(_write, _batch, _look, st.tuples(st.just("clear"))),
                min_size=1, max_size=10)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops, limit=st.sampled_from([1, 3, 50]))
def test_live_rows_are_the_stored_firms(store: Store, ops: list[tuple[Any, ...]],
                                        limit: int) -> None:
    """Whatever the writes, the live rows are each stored firm once, as last written.

    The store is shared by the examples (it only grows), each with a new table.
    """
    warm = WarmFirms(overlay_limit=limit)
    as_of = AS_OF
    for op in [*ops, ("parts", AS_OF)]:
        if op[0] == "put":
            _, i, revenue, region, quals = op
            # Same USCC, maybe another region: the firm moves in the region order.
            put(store, firm(i, region=region, revenue=revenue, qualifications=quals,
                            uscc=firm(i)["uscc"]))
        elif op[0] == "import":
            _, ids, employees = op
            import_firms(store, [firm(i, employees=employees) for i in ids])
        elif op[0] == "clear":
            warm.clear()
        else:
            as_of = op[1]
            with store.transaction(write=False) as conn:
                parts = warm.parts(conn, as_of)
                got = live_rows(parts)
                assert len(got) == len({r[0] for r in got})
                assert sorted(got) == stored_rows(conn, as_of)
