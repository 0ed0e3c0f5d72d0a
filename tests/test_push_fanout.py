# ruff: noqa: F811  (pytest fixtures imported from the support modules)
"""The compact outbox: columnar snapshots and fan-out rows, expanded once, on both backends."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from push import columnar, fanout, snapshots
from push.detect import detect_pending
from push.fanout import expand_store
from push.subscriptions import SubscriptionIn, put_subscription
from push.tables import push_deliveries, push_fanout, push_notifications, push_snapshots
from store.store import Store
from tests._push_support import (  # noqa: F401 - clock, store are fixtures
    AS_OF,
    Clock,
    at_once,
    clock,
    firm,
    import_firms,
    migration_module,
    policy,
    store,
)
from tests._store_support import postgres_url, store_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _reference_bucket(uscc: str) -> int:
    """The documented bucket function, written out per character."""
    weights = [((i * 2_654_435_761 + 40_503) % 1_000_003) | 1 for i in range(18)]
    return sum(ord(c) * w for c, w in zip(uscc, weights, strict=True)) % columnar.BUCKETS


@given(st.lists(st.text(alphabet=USCC_CHARS, min_size=18, max_size=18), max_size=50))
def test_bucket_is_the_documented_function(usccs: list[str]) -> None:
    got = columnar.bucket_of(usccs)
    assert got.tolist() == [_reference_bucket(u) for u in usccs]
    assert all(0 <= b < columnar.BUCKETS for b in got)


MIGRATION_0102 = migration_module("0102_push_fanout.py")


@given(st.lists(st.text(alphabet=USCC_CHARS, min_size=18, max_size=18), max_size=50))
def test_migration_froze_the_same_bucket_function(usccs: list[str]) -> None:
    """0102 carries its own copy of ``bucket_of``: both must never diverge (stored blobs
    are keyed by it)."""
    assert MIGRATION_0102.BUCKETS == columnar.BUCKETS
    assert MIGRATION_0102.bucket_of(usccs).tolist() == columnar.bucket_of(usccs).tolist()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=USCC_CHARS, min_size=18, max_size=18),
                          st.one_of(st.none(), st.floats(allow_nan=False))),
                min_size=0, max_size=700))
def test_migration_blobs_and_live_blobs_read_each_other(
        rows: list[tuple[str, float | None]]) -> None:
    frame = pd.DataFrame({"uscc": pd.Series([r[0] for r in rows], dtype=object),
                          "amount": pd.Series([r[1] for r in rows], dtype="float64")})
    from_migration = columnar.decode(MIGRATION_0102.encode(frame))
    from_live = MIGRATION_0102.decode(columnar.encode(frame))
    for got in (from_migration, from_live):
        pd.testing.assert_frame_equal(got.reset_index(drop=True), frame, check_dtype=False)


def test_buckets_spread_real_usccs() -> None:
    usccs = [str(firm(i)["uscc"]) for i in range(2000)]
    counts = np.bincount(columnar.bucket_of(usccs), minlength=columnar.BUCKETS)
    assert counts.max() <= 4 * 2000 / columnar.BUCKETS  # no bucket holds a big share


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.one_of(st.none(), st.floats(allow_nan=True)),
                          st.integers(-2**40, 2**40)), max_size=30))
def test_blobs_round_trip(rows: list[tuple[str, float | None, int]]) -> None:
    frame = pd.DataFrame({"t": pd.Series([r[0] for r in rows], dtype=object),
                          "x": pd.Series([r[1] for r in rows], dtype="float64"),
                          "n": pd.Series([r[2] for r in rows], dtype="int64")})
    back = columnar.decode(columnar.encode(frame))
    assert back["t"].tolist() == frame["t"].tolist()
    assert back["n"].tolist() == frame["n"].tolist()
    assert np.array_equal(back["x"].to_numpy(), frame["x"].to_numpy(), equal_nan=True)


def _count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_broad_publish_writes_a_row_per_bucket_not_per_firm(store: Store) -> None:
    firms = [firm(i) for i in range(1, 601)]
    import_firms(store, firms)
    store.put_policy(policy(), actor="t", publish=True)
    report = detect_pending(store, AS_OF)
    assert report.counts.notifications == 600
    used = len(set(columnar.bucket_of([str(f["uscc"]) for f in firms]).tolist()))
    assert _count(store, push_snapshots) == used <= columnar.BUCKETS
    assert _count(store, push_fanout) == used
    assert _count(store, push_notifications) == 0  # nothing per firm until expanded
    assert expand_store(store) == 600
    assert _count(store, push_notifications) == 600
    assert expand_store(store) == 0  # expanded rows are marked


def test_snapshots_of_one_firm_read_only_its_bucket(store: Store) -> None:
    firms = [firm(i) for i in range(1, 81)]
    import_firms(store, firms)
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    target = str(firms[5]["uscc"])
    with store.transaction(write=False) as conn:
        one = snapshots.load(conn, ["p-rd"], [target])
        whole = snapshots.load(conn, ["p-rd"])
    assert one.frame["uscc"].tolist() == [target]
    assert set(g[1] for g in one.groups) == {int(columnar.bucket_of([target])[0])}
    assert len(whole.frame) == 80 and set(whole.frame["status"]) == {"eligible"}
    # A profile change rewrites that bucket and keeps its neighbours' rows.
    store.put_firm(firm(6, revenue=1_000_000.0), actor="t")
    detect_pending(store, AS_OF)
    with store.transaction(write=False) as conn:
        after = snapshots.load(conn, ["p-rd"]).frame.set_index("uscc")
    assert len(after) == 80
    assert after.loc[target, "status"] == "ineligible" and after.loc[target, "version"] == 2
    assert (after.drop(index=target)["version"] == 1).all()


def test_expansion_crash_leaves_the_fanout_row_for_the_next_try(store: Store,
                                                                clock: Clock) -> None:
    import_firms(store, [firm(1), firm(2)])
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        assert fanout.expand_some(conn, clock(), clock())[1] == 2
        raise RuntimeError("dispatcher killed mid-expansion")
    assert _count(store, push_notifications) == 0
    with store.transaction(write=False) as conn:
        assert fanout.pending(conn) >= 1
    assert expand_store(store) == 2


def test_two_expanders_at_once_make_each_notification_once(store_url: str,
                                                           clock: Clock) -> None:
    setup = Store(store_url, clock=clock)
    firms = [firm(i) for i in range(1, 61)]
    import_firms(setup, firms)
    with setup.transaction() as conn:
        for f in firms[:20]:
            put_subscription(conn, str(f["uscc"]), SubscriptionIn.model_validate(
                {"channels": [{"type": "email", "address": f"f{f['uscc'][-6:]}@example.cn"}]}),
                clock())
    for k in range(3):
        setup.put_policy(policy(f"p{k}"), actor="t", publish=True)
    detect_pending(setup, AS_OF)
    made = at_once(store_url, clock, expand_store)
    assert sum(made) == 180
    with setup.engine.connect() as conn:
        keys = Counter(tuple(r) for r in conn.execute(sa.select(
            push_notifications.c.uscc, push_notifications.c.policy_id)))
        per = Counter(r[0] for r in conn.execute(sa.select(push_deliveries.c.notification_id)))
    assert len(keys) == 180 and set(keys.values()) == {1}
    assert len(per) == 60 and set(per.values()) == {1}  # 20 subscribed firms × 3 policies
    setup.close()


def test_notifications_keep_the_time_of_detection(store: Store, clock: Clock) -> None:
    import_firms(store, [firm(1)])
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    detected = clock()
    clock.advance(hours=5)
    expand_store(store)
    with store.engine.connect() as conn:
        (created,) = conn.execute(sa.select(push_notifications.c.created_at)).scalars().all()
    got: Any = created if created.tzinfo else created.replace(tzinfo=detected.tzinfo)
    assert got == detected


def test_migration_carries_verdicts_into_blobs_and_back(store_url: str,  # noqa: F811
                                                        clock: Clock) -> None:
    from alembic import command

    from store.migrate import alembic_config

    s = Store(store_url, clock=clock)
    import_firms(s, [firm(1), firm(2, revenue=None), firm(3)])
    s.put_policy(policy(), actor="t", publish=True)
    detect_pending(s, AS_OF)
    s.put_firm(firm(3, revenue=1_000_000.0), actor="t")
    detect_pending(s, AS_OF)
    with s.transaction(write=False) as conn:
        before = snapshots.load(conn).frame.sort_values("uscc").reset_index(drop=True)
    with s.engine.connect().execution_options(write=True) as conn:
        command.downgrade(alembic_config(conn), "0101_push")  # blobs back into rows
        conn.commit()
        rows = conn.execute(sa.text("SELECT uscc, status, version FROM push_verdicts "
                                    "ORDER BY uscc")).all()
    assert [(r[0], r[1], r[2]) for r in rows] == list(zip(
        before["uscc"], before["status"], before["version"].astype(int), strict=True))
    s.close()
    s = Store(store_url, clock=clock)  # upgrades again: rows into blobs
    with s.transaction(write=False) as conn:
        after = snapshots.load(conn).frame.sort_values("uscc").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before, check_dtype=False)
    assert set(after["status"]) == {"eligible", "undetermined", "ineligible"}
    # The blobs 0102 wrote (plain texts, 64-bit integers, per-buffer zstd) are rewritten
    # in today's form when a firm changes, keeping the rows of the firms that did not.
    s.put_firm(firm(1, revenue=None), actor="t")
    detect_pending(s, AS_OF)
    with s.transaction(write=False) as conn:
        moved = snapshots.load(conn).frame.sort_values("uscc").reset_index(drop=True)
    changed = moved["uscc"] == str(firm(1)["uscc"])
    assert moved.loc[changed, "status"].tolist() == ["undetermined"]
    assert moved.loc[changed, "version"].tolist() == [2]
    pd.testing.assert_frame_equal(moved[~changed].reset_index(drop=True),
                                  after[~changed].reset_index(drop=True), check_dtype=False)
    s.close()


def test_blob_columns_skip_postgresql_compression(postgres_url: str) -> None:  # noqa: F811
    """0104: the blobs are zstd already; PostgreSQL must not try pglz on them again."""
    store = Store(postgres_url)
    with store.engine.connect() as conn:
        got = dict(conn.exec_driver_sql(
            "SELECT attrelid::regclass::text, attstorage FROM pg_attribute "
            "WHERE attname = 'data' AND attrelid IN "
            "('push_snapshots'::regclass, 'push_fanout'::regclass)").all())
    store.close()
    assert got == {"push_snapshots": "e", "push_fanout": "e"}


def test_loading_some_firms_finds_exactly_their_rows(store: Store) -> None:
    """``snapshots.load`` for a set of firms (a few buckets, or every bucket) returns the
    same rows as loading everything and keeping those firms."""
    records = [firm(i, revenue=float(1_000_000 * (i % 40))) for i in range(1, 3001)]
    import_firms(store, records)
    store.put_policy(policy("p1"), actor="t", publish=True)
    store.put_policy(policy("p2", title="第二"), actor="t", publish=True)
    detect_pending(store, AS_OF)
    usccs = np.array([str(r["uscc"]) for r in records], dtype=object)
    rng = np.random.default_rng(7)
    with store.transaction(write=False) as conn:
        everything = snapshots.load(conn).frame
        assert len(everything) > 1000
        for size in (1, 3, 40, 2990):
            pick = list(rng.choice(usccs, size=size, replace=False)) + ["91000000MA0000000X"]
            if size > 1000:  # every bucket: the load reads all blobs, no bucket filter
                assert len(set(columnar.bucket_of(pick).tolist())) == columnar.BUCKETS
            got = snapshots.load(conn, None, pick).frame
            want = everything[everything["uscc"].isin(pick)]
            key = ["policy_id", "uscc"]
            pd.testing.assert_frame_equal(
                got.sort_values(key).reset_index(drop=True),
                want.sort_values(key).reset_index(drop=True), check_dtype=False)
            assert set(got["uscc"]) <= set(pick)
