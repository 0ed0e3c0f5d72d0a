# ruff: noqa: F811  (pytest fixtures imported from the support modules)
"""Detection and the outbox on real SQLite and PostgreSQL: once per change, atomically."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from bench.synthetic import AS_OF as SYN_AS_OF
from bench.synthetic import firm_records, synthetic_firms, synthetic_policies
from matcher.changes import evaluate_policy
from matcher.eligibility import evaluate
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from push.detect import Detector, DetectReport, detect_pending
from push.fanout import expand_store
from push.firm_table import load_for_policy, read_firms
from push.schedule import CHINA
from push.subscriptions import SubscriptionIn, put_subscription
from push.tables import push_deliveries, push_fanout, push_notifications, push_snapshots
from store.events import load_listeners
from store.schema import policies
from store.store import Store
from tests._push_support import (  # noqa: F401 - clock, store are fixtures
    AS_OF,
    Clock,
    at_once,
    clock,
    firm,
    import_firms,
    policy,
    store,
)
from tests._store_support import postgres_url, store_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def notifications(store: Store, **where: Any) -> list[Any]:
    """Per-firm notifications, after expanding the fan-out outbox (as a dispatcher does)."""
    expand_store(store)
    n = push_notifications
    stmt = sa.select(n).order_by(n.c.id)
    for k, v in where.items():
        stmt = stmt.where(n.c[k] == v)
    with store.engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def events_of(store: Store) -> Counter[tuple[str, str]]:
    return Counter((r["uscc"], r["event"]) for r in notifications(store))


A, B, C, D = (firm(1), firm(2, revenue=None), firm(3, region="430211"),
              firm(4, revenue=10_000_000.0))


def test_publish_tells_each_matched_firm_once(store: Store) -> None:
    import_firms(store, [A, B, C, D])
    store.put_policy(policy(), actor="t", publish=True)
    report = detect_pending(store, AS_OF)
    assert report.policies == ["p-rd"]
    assert events_of(store) == Counter({(A["uscc"], "newly_eligible"): 1,
                                        (B["uscc"], "newly_undetermined"): 1})
    a = notifications(store, uscc=A["uscc"])[0]
    assert a["amount"] == 500_000 and a["title"] == "长沙市研发奖补政策"
    assert a["met"] == "注册在长沙市 | 上年度营业收入2000万元以上 | 有效期内的高新技术企业"
    b = notifications(store, uscc=B["uscc"])[0]
    assert b["unknown"] == "revenue" and b["status"] == "undetermined"
    # The Zhuzhou firm and the one below the revenue floor never reached the engine:
    # the SQL prefilter dropped them (B, with revenue unknown, had to be kept).
    assert report.firms_loaded == 2
    # Rerun: nothing new, nothing duplicated.
    again = detect_pending(store, AS_OF)
    assert again.counts.notifications == 0 and len(notifications(store)) == 2


def test_a_crash_before_commit_leaves_no_trace(store: Store) -> None:
    import_firms(store, [A, B])
    store.put_policy(policy(), actor="t", publish=True)
    detector = Detector(store)
    with pytest.raises(RuntimeError, match="crash"), store.transaction() as conn:
        row = conn.execute(sa.select(policies)).mappings().one()
        report = DetectReport()
        detector.policy_unit(conn, row, AS_OF, report)
        assert report.counts.notifications == 2
        assert conn.execute(sa.select(sa.func.sum(push_fanout.c.n))).scalar_one() == 2
        raise RuntimeError("crash between writing the outbox and committing")
    with store.engine.connect() as conn:
        for t in (push_notifications, push_snapshots, push_fanout):
            assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0
    detect_pending(store, AS_OF)
    assert len(notifications(store)) == 2


def test_profile_changes_are_news_once_per_change(store: Store, clock: Clock) -> None:
    import_firms(store, [A, B])
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    store.put_firm(firm(2, revenue=25_000_000.0), actor="t")  # B fills in its revenue
    store.put_firm(firm(1, revenue=5_000_000.0), actor="t")  # A falls below the floor
    detect_pending(store, AS_OF)
    store.put_firm(firm(1), actor="t")  # A is back
    detect_pending(store, AS_OF)
    got = sorted((r["uscc"], r["event"], r["version"]) for r in notifications(store))
    assert got == sorted([
        (A["uscc"], "newly_eligible", 1), (B["uscc"], "newly_undetermined", 1),
        (B["uscc"], "newly_eligible", 2), (A["uscc"], "no_longer_eligible", 2),
        (A["uscc"], "newly_eligible", 3),
    ])
    lost = notifications(store, event="no_longer_eligible")[0]
    assert lost["cause"] == "changed"
    # The same profile written again is not news.
    store.put_firm(firm(1), actor="t")
    assert detect_pending(store, AS_OF).counts.notifications == 0


def test_withdrawal_takes_back_matches_and_requests(store: Store) -> None:
    import_firms(store, [A, B, D])
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    store.withdraw("p-rd", actor="t")
    detect_pending(store, AS_OF)
    gone = notifications(store, event="no_longer_eligible")
    assert sorted(r["uscc"] for r in gone) == sorted([A["uscc"], B["uscc"]])
    assert {r["cause"] for r in gone} == {"withdrawn"}


def test_deadline_reminder_once(store: Store, clock: Clock) -> None:
    import_firms(store, [A])
    until = (AS_OF + dt.timedelta(days=10)).isoformat()
    store.put_policy(policy(valid_until=until), actor="t", publish=True)
    early = AS_OF - dt.timedelta(days=60)
    detect_pending(store, early)
    assert [r["event"] for r in notifications(store)] == ["newly_eligible"]
    detect_pending(store, AS_OF)
    detect_pending(store, AS_OF)
    detect_pending(store, AS_OF + dt.timedelta(days=1))
    assert [r["event"] for r in notifications(store)] == ["newly_eligible",
                                                           "deadline_approaching"]
    assert notifications(store)[1]["days_left"] == 10


def test_two_detections_at_once_enqueue_once(store_url: str, clock: Clock) -> None:  # noqa: F811
    records = [firm(i) for i in range(1, 41)]
    setup = Store(store_url, clock=clock)
    import_firms(setup, records)
    for k in range(3):
        setup.put_policy(policy(f"p{k}"), actor="t", publish=True)
    at_once(store_url, clock, lambda s: detect_pending(s, AS_OF))
    keys = Counter((r["uscc"], r["policy_id"], r["event"]) for r in notifications(setup))
    assert len(keys) == 40 * 3 and set(keys.values()) == {1}
    setup.close()


def test_publish_enqueues_in_the_same_transaction(store: Store) -> None:
    load_listeners(store)
    import_firms(store, [A, B])
    store.put_policy(policy(), actor="t", publish=True)
    # No detection pass ran: the listener enqueued inside the publishing transaction.
    assert len(notifications(store)) == 2
    store.put_firm(firm(2, revenue=25_000_000.0), actor="t")
    # A firm edit is detected in the transaction that writes it (see push.listeners) …
    assert (B["uscc"], "newly_eligible") in events_of(store)
    # … and moved the watermark: the next round has nothing to add.
    assert detect_pending(store, AS_OF).counts.notifications == 0
    assert len(notifications(store)) == 3


def test_deliveries_follow_subscriptions(store: Store, clock: Clock) -> None:
    firms = [firm(i) for i in range(1, 5)]
    import_firms(store, firms)
    subs = {
        1: {"channels": [{"type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s"}]},
        2: {"channels": [{"type": "email", "address": "a@example.cn"}], "digest": "daily"},
        3: {"channels": [{"type": "email", "address": "m@example.cn"}],
            "muted_topics": ["grant"]},
    }
    with store.transaction() as conn:
        for i, body in subs.items():
            put_subscription(conn, str(firms[i - 1]["uscc"]), SubscriptionIn.model_validate(body),
                             clock())
    store.put_policy(policy(), actor="t", publish=True)
    detect_pending(store, AS_OF)
    assert len(notifications(store)) == 4  # every firm's inbox has it, muted or not
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(push_deliveries, push_notifications.c.uscc).join(
            push_notifications, push_notifications.c.id == push_deliveries.c.notification_id)
        ).mappings().all()
    by_firm = {r["uscc"]: r for r in rows}
    assert set(by_firm) == {firms[0]["uscc"], firms[1]["uscc"]}
    now = by_firm[firms[0]["uscc"]]
    assert not now["digest"] and now["state"] == "pending"
    daily = by_firm[firms[1]["uscc"]]
    due = daily["due_at"].replace(tzinfo=dt.UTC) if daily["due_at"].tzinfo is None else daily[
        "due_at"]
    assert daily["digest"] and due.astimezone(CHINA) == dt.datetime(2026, 7, 1, 9, tzinfo=CHINA)


def test_prefiltered_loading_agrees_with_full_evaluation(store: Store) -> None:
    """SQL projection + pushdown on this backend lose no eligible or undetermined firm —
    including firms known only by a coarser industry code (section ``C`` against a
    policy's ``C34``: unknown, not false)."""
    frame = synthetic_firms(1500, seed=3)
    industry = frame["industry_code"].astype(object)
    frame.loc[::7, "industry_code"] = industry[::7].str[:1]
    frame.loc[3::7, "industry_code"] = industry[3::7].str[:3]
    records = [normalize_profile(r, "syn") for r in firm_records(frame)]
    import_firms(store, records)
    pols = synthetic_policies(25, seed=4)
    full = evaluate(profiles_frame(records), pols, SYN_AS_OF, size_standard())
    with store.transaction(write=False) as conn:
        loaded = read_firms(conn, [c for c in frame.columns])
        assert len(loaded) == 1500
        reduced = 0
        for p, pol in enumerate(pols):
            firms = load_for_policy(conn, pol, SYN_AS_OF)
            one = evaluate_policy(firms, pol, SYN_AS_OF)
            got = {(u, int(s)) for u, s in zip(firms.uscc, one.status[0], strict=True) if s}
            want = {(u, int(s)) for u, s in zip(full.firms.uscc, full.status[p], strict=True)
                    if s}
            assert got == want, pol.id
            reduced += firms.n < 1500
    assert reduced >= 20  # the pushdown really ran (region, sector, floors, titles …)


def _told(store: Store) -> set[tuple[Any, ...]]:
    return {(r["uscc"], r["policy_id"], r["event"], r["status"], r["unknown"], r["met"],
             r["review"], None if r["amount"] is None else round(float(r["amount"]), 2))
            for r in notifications(store)}


def _scenario(store: Store, detector: Detector) -> list[set[tuple[Any, ...]]]:
    """Firms and policies stored, detected; firms changed and a policy added, detected:
    what was told after each pass."""
    frame = synthetic_firms(1200, seed=8)
    industry = frame["industry_code"].astype(object)
    frame.loc[::9, "industry_code"] = industry[::9].str[:1]  # coarse codes: unknown leaves
    records = [normalize_profile(r, "syn") for r in firm_records(frame)]
    import_firms(store, records)
    for p in synthetic_policies(12, seed=9):
        store.put_policy(p, actor="t", publish=True)
    detector.detect_pending(SYN_AS_OF)
    told = [_told(store)]
    for r in records[:40]:  # an overlay over the warm base
        store.put_firm({**r, "revenue": None, "tax_credit_rating": "A"}, actor="t")
    for p in synthetic_policies(14, seed=10)[-2:]:
        store.put_policy(type(p)(**{**p.__dict__, "id": f"late-{p.id}"}), actor="t",
                         publish=True)
    detector.detect_pending(SYN_AS_OF)
    told.append(_told(store))
    return told


def test_warm_detection_tells_what_cold_detection_tells(store: Store, tmp_path: Any) -> None:
    """The dispatcher's warm firm table (all firms, refreshed from changed rows) finds the
    same news as loading each policy's candidates from the store — before and after
    firms change under it."""
    from push.warm import WarmFirms

    warm = Detector(store, warm=WarmFirms(overlay_limit=100))
    with_warm = _scenario(store, warm)
    assert warm.warm is not None and warm.warm.base_builds == 1  # the overlay did the rest
    other = Store(f"sqlite:///{tmp_path / 'cold.db'}", clock=store.clock)
    try:
        cold = _scenario(other, Detector(other))
    finally:
        other.close()
    assert len(with_warm[0]) > 300 and len(with_warm[1]) > len(with_warm[0])
    assert with_warm == cold


def test_in_transaction_detection_is_bounded_per_transaction(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import push.listeners

    monkeypatch.setattr(push.listeners, "MAX_POLICIES_IN_TRANSACTION", 1)
    load_listeners(store)
    import_firms(store, [A])
    store.put_policy(policy("p1"), actor="t", publish=True)
    store.put_policy(policy("p2"), actor="t", publish=True)  # a new transaction: its own budget
    assert {r["policy_id"] for r in notifications(store)} == {"p1", "p2"}
    store.import_policies([policy("p3"), policy("p4")], actor="t", source="f", publish=True)
    assert {r["policy_id"] for r in notifications(store)} == {"p1", "p2", "p3"}
    report = detect_pending(store, AS_OF)  # the rest was left pending, not lost
    assert report.policies == ["p4"]
    assert {r["policy_id"] for r in notifications(store)} == {"p1", "p2", "p3", "p4"}


def test_size_class_asks_only_for_the_metrics_of_the_firms_group(store: Store) -> None:
    """An industrial firm (employees and revenue decide its size) missing its revenue and
    total assets is asked for its revenue only: total assets do not classify it."""
    import_firms(store, [firm(1, revenue=None, total_assets=None)])
    store.put_policy(policy("p-sme", conditions={"all": [
        {"field": "size_class", "op": "in", "value": ["small", "micro"],
         "source": "属于小型、微型企业"}]}), actor="t", publish=True)
    detect_pending(store, AS_OF)
    (row,) = notifications(store)
    assert (row["event"], row["unknown"]) == ("newly_undetermined", "revenue")


def test_policies_can_be_left_to_the_warm_dispatcher(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """POLICY_MATCH_PUSH_DETECT=dispatcher: a publish commits without detecting; the
    dispatcher's warm round tells the firms once. Firm writes still detect at once."""
    from matcher.errors import PolicyMatchError
    from push.warm import WarmFirms

    monkeypatch.setenv("POLICY_MATCH_PUSH_DETECT", "dispatcher")
    load_listeners(store)
    import_firms(store, [A, B])
    detector = Detector(store, warm=WarmFirms())
    detector.warm_up(AS_OF)
    store.put_policy(policy("p1"), actor="t", publish=True)
    assert notifications(store) == []
    detector.detect_pending(AS_OF)
    assert events_of(store) == Counter({(A["uscc"], "newly_eligible"): 1,
                                        (B["uscc"], "newly_undetermined"): 1})
    store.put_firm({**B, "revenue": 30_000_000.0}, actor="t")  # detected in its transaction
    assert events_of(store)[(B["uscc"], "newly_eligible")] == 1
    detector.detect_pending(AS_OF)
    assert sum(events_of(store).values()) == 3
    monkeypatch.setenv("POLICY_MATCH_PUSH_DETECT", "later")
    with pytest.raises(PolicyMatchError, match="POLICY_MATCH_PUSH_DETECT"):
        load_listeners(Store(f"sqlite:///{store.engine.url.database}")
                       if store.dialect == "sqlite" else store)


def test_large_firm_writes_are_left_to_detect_pending(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk chunk above MAX_FIRMS_IN_TRANSACTION is not evaluated in its transaction,
    yet nothing is lost and nothing told twice; a small write is still told at once."""
    import push.listeners

    monkeypatch.setattr(push.listeners, "MAX_FIRMS_IN_TRANSACTION", 2)
    load_listeners(store)
    store.put_policy(policy(), actor="t", publish=True)
    import_firms(store, [firm(i) for i in range(1, 5)])  # one chunk of 4 > 2
    assert notifications(store) == []
    store.put_firm(firm(9), actor="t")  # small: told in its own transaction …
    assert [r["uscc"] for r in notifications(store)] == [firm(9)["uscc"]]
    report = detect_pending(store, AS_OF)  # … and the chunk's firms are still pending
    assert report.firms >= 4
    assert sorted(r["uscc"] for r in notifications(store)) == sorted(
        str(firm(i)["uscc"]) for i in (1, 2, 3, 4, 9))
    assert detect_pending(store, AS_OF).counts.notifications == 0


def test_an_expired_policy_is_not_news_when_a_firm_changes(store: Store) -> None:
    import_firms(store, [A])
    store.put_policy(policy(valid_until=(AS_OF + dt.timedelta(days=30)).isoformat()),
                     actor="t", publish=True)
    detect_pending(store, AS_OF - dt.timedelta(days=40))
    store.put_firm(firm(1, employees=60), actor="t")
    detect_pending(store, AS_OF + dt.timedelta(days=60))
    assert [r["event"] for r in notifications(store)] == ["newly_eligible"]


def test_push_migration_builds_exactly_the_push_tables(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from push.tables import PUSH_TABLES

    ours = {t.name for t in PUSH_TABLES}
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 PUSH_TABLES[0].metadata)
    mine = [d for d in diffs if ours & set(map(str, _names(d)))]
    assert mine == []
    assert ours <= set(sa.inspect(store.engine).get_table_names())


def _names(diff: Any) -> list[str]:
    """The table a schema diff is about (alembic's tuples; lists for modify_* diffs)."""
    if isinstance(diff, list):
        return [n for d in diff for n in _names(d)]
    kind, obj = diff[0], diff[1]
    if kind in ("add_table", "remove_table"):
        return [obj.name]
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return [obj.table.name]
    if kind in ("add_fk", "remove_fk"):
        return [obj.parent.name]
    return [str(diff[2])]
