"""The pure side of push: the verdict diff, the one-policy fast path, and "why" reasons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.changes import (
    DEADLINE_APPROACHING,
    NEWLY_ELIGIBLE,
    NEWLY_UNDETERMINED,
    NO_LONGER_ELIGIBLE,
    evaluate_policy,
    matched_table,
    met_leaves,
    newly_matched,
)
from matcher.conditions import AllOf, Condition, Criterion
from matcher.derive import derive
from matcher.eligibility import eligibility_table, evaluate
from matcher.encode import encode
from matcher.explain import node_value
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy
from profiles.read import profiles_frame
from profiles.reference import size_standard
from tests.strategies import firm_tables, trees

AS_OF = dt.date(2026, 6, 30)
STATUSES = ["eligible", "undetermined", "ineligible"]


def table(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["uscc", "policy_id", "status", "amount", "unmet",
                                       "unknown"])


def events(prev: pd.DataFrame, cur: pd.DataFrame, **kw: Any) -> set[tuple[str, str, str]]:
    out = newly_matched(prev, cur, **kw)
    return set(zip(out["uscc"], out["policy_id"], out["event"], strict=True))


def test_each_kind_of_change() -> None:
    prev = table([
        ("A", "p1", "eligible", "100", "", ""),
        ("B", "p1", "undetermined", "", "", "revenue"),
        ("C", "p1", "eligible", "100", "", ""),
        ("D", "p1", "undetermined", "", "", "revenue"),
        ("E", "p1", "ineligible", "", "x", ""),
    ])
    cur = table([
        ("B", "p1", "eligible", "100", "", ""),  # asked before, eligible now
        ("C", "p1", "eligible", "100", "", ""),  # unchanged
        ("D", "p1", "undetermined", "", "", "revenue | employees"),  # still asked
        ("E", "p1", "undetermined", "", "", "revenue"),  # was out, now asked
        ("F", "p1", "undetermined", "", "", "a | b | c"),  # too many open items
        ("G", "p1", "eligible", "", "", ""),  # new
    ])
    assert events(prev, cur, deadline_days=None) == {
        ("A", "p1", NO_LONGER_ELIGIBLE), ("B", "p1", NEWLY_ELIGIBLE),
        ("E", "p1", NEWLY_UNDETERMINED), ("G", "p1", NEWLY_ELIGIBLE),
    }


def test_no_longer_eligible_names_its_cause() -> None:
    prev = table([("A", "p1", "eligible", "", "", ""), ("A", "p2", "undetermined", "", "",
                                                          "revenue"),
                  ("A", "p3", "eligible", "", "", ""), ("A", "p4", "undetermined", "", "",
                                                         "revenue")])
    cur = table([])
    out = newly_matched(prev, cur, as_of=AS_OF, withdrawn=["p1", "p2"],
                        valid_until={"p3": AS_OF - dt.timedelta(days=1)})
    got = {(r.policy_id, r.event, r.cause) for r in out.itertuples()}
    # p4: only asked for fields, not withdrawn: nothing to take back.
    assert got == {("p1", NO_LONGER_ELIGIBLE, "withdrawn"), ("p2", NO_LONGER_ELIGIBLE, "withdrawn"),
                   ("p3", NO_LONGER_ELIGIBLE, "expired")}


def test_eligible_firm_losing_data_is_asked_for_it() -> None:
    prev = table([("A", "p1", "eligible", "", "", "")])
    cur = table([("A", "p1", "undetermined", "", "", "revenue")])
    out = newly_matched(prev, cur, deadline_days=None)
    assert list(out["event"]) == [NEWLY_UNDETERMINED]
    assert list(out["previous_status"]) == ["eligible"]


def test_deadline_once_the_window_is_entered() -> None:
    until = {"p1": AS_OF + dt.timedelta(days=10)}
    prev = table([("A", "p1", "eligible", "", "", ""), ("B", "p1", "eligible", "", "", ""),
                  ("C", "p1", "eligible", "", "", "")])
    prev["as_of"] = [AS_OF - dt.timedelta(days=60), AS_OF - dt.timedelta(days=2), None]
    cur = table([("A", "p1", "eligible", "", "", ""), ("B", "p1", "eligible", "", "", ""),
                 ("C", "p1", "eligible", "", "", ""), ("D", "p1", "eligible", "", "", "")])
    got = events(prev, cur, as_of=AS_OF, deadline_days=14, valid_until=until)
    # A was told long before the window; B inside it (its message had the date); C unknown;
    # D is newly eligible, and that message carries the deadline itself.
    assert got == {("A", "p1", DEADLINE_APPROACHING), ("C", "p1", DEADLINE_APPROACHING),
                   ("D", "p1", NEWLY_ELIGIBLE)}
    far = events(prev, cur, as_of=AS_OF, deadline_days=5, valid_until=until)
    assert far == {("D", "p1", NEWLY_ELIGIBLE)}


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="missing"):
        newly_matched(table([]).drop(columns="status"), table([]))
    dup = table([("A", "p1", "eligible", "", "", "")] * 2)
    with pytest.raises(ValueError, match="more than one row"):
        newly_matched(dup, table([]))


rows = st.lists(
    st.tuples(st.sampled_from("ABCDE"), st.sampled_from(["p1", "p2"]), st.sampled_from(STATUSES),
              st.sampled_from(["", "revenue", "revenue | employees", "a | b | c"])),
    max_size=10, unique_by=lambda r: (r[0], r[1]),
)


def _frame(rs: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return table([(u, p, s, "", "", k if s == "undetermined" else "") for u, p, s, k in rs])


@settings(max_examples=40)
@given(rows)
def test_nothing_changes_nothing_is_news(rs: list[tuple[str, str, str, str]]) -> None:
    t = _frame(rs)
    assert newly_matched(t, t, deadline_days=None).empty


@settings(max_examples=60)
@given(rows, rows, st.integers(0, 3))
def test_events_match_their_definitions(a: list[Any], b: list[Any], k: int) -> None:
    prev, cur = _frame(a), _frame(b)
    out = newly_matched(prev, cur, k_missing=k, deadline_days=None)
    assert not out.duplicated(["uscc", "policy_id", "event"]).any()
    before = {(u, p): (s, n) for u, p, s, n in a}
    now = {(u, p): (s, n) for u, p, s, n in b}

    def asks(v: tuple[str, str] | None) -> bool:
        return v is not None and v[0] == "undetermined" and 1 <= len(
            [x for x in v[1].split("|") if x.strip()]) <= k

    for pair in set(before) | set(now):
        was, is_ = before.get(pair), now.get(pair)
        got = {e for u, p, e in zip(out.uscc, out.policy_id, out.event, strict=True)
               if (u, p) == pair}
        el_now = is_ is not None and is_[0] == "eligible"
        el_was = was is not None and was[0] == "eligible"
        assert (NEWLY_ELIGIBLE in got) == (el_now and not el_was)
        assert (NEWLY_UNDETERMINED in got) == (asks(is_) and not asks(was))
        assert (NO_LONGER_ELIGIBLE in got) == (el_was and not el_now and not asks(is_))


# --- the one-policy fast path against the full evaluation ----------------------------

@settings(max_examples=40)
@given(firm_tables(), st.lists(trees(), min_size=1, max_size=3))
def test_one_policy_path_agrees_with_full_evaluation(records: list[dict[str, Any]],
                                                     conds: list[Condition]) -> None:
    frame = profiles_frame(records)
    policies = [Policy(id=f"p{i}", conditions=c) for i, c in enumerate(conds)]
    full = evaluate(frame, policies, AS_OF, size_standard())
    firms = encode(derive(frame, AS_OF, size_standard()))
    for p, policy in enumerate(policies):
        one = evaluate_policy(firms, policy, AS_OF)
        np.testing.assert_array_equal(one.status[0], full.status[p])
    # matched_table says the same as the contract table, plus the reasons.
    expected = eligibility_table(full, statuses=("eligible", "undetermined"))
    got = matched_table(full).sort_values(["uscc", "policy_id"]).reset_index(drop=True)
    assert list(got["uscc"]) == list(expected["uscc"])
    assert list(got["status"]) == list(expected["status"])
    assert list(got["unknown"].where(got["status"] == "undetermined", "")) == list(
        expected["unknown"].where(expected["status"] == "undetermined", ""))


@given(trees(), st.data())
def test_met_leaves_alone_make_an_eligible_tree_true(tree: Condition, data: Any) -> None:
    """Keep the met leaves, make every other leaf unknown: an eligible verdict stays true."""
    leaves = list(tree.leaves())
    values = data.draw(st.lists(st.sampled_from([FALSE, UNKNOWN, TRUE]), min_size=len(leaves),
                                max_size=len(leaves)))
    by_id = {id(leaf): v for leaf, v in zip(leaves, values, strict=True)}
    if node_value(tree, by_id) != TRUE:
        return
    met = {id(leaf) for leaf in met_leaves(tree, leaves, values)}
    only = {id(leaf): (by_id[id(leaf)] if id(leaf) in met else UNKNOWN) for leaf in leaves}
    assert node_value(tree, only) == TRUE


def test_matched_table_explains_in_the_policys_words() -> None:
    records = [
        {"uscc": "91430111MA4L000001", "name": "a", "region_code": "430111", "revenue": 3e7,
         "qualifications": []},
        {"uscc": "91430111MA4L000002", "name": "b", "region_code": "430111"},
    ]
    from profiles.read import normalize_profile
    from profiles.uscc import make_uscc

    recs = [normalize_profile({**r, "uscc": make_uscc("430111", f"{i:08d}")}, "t")
            for i, r in enumerate(records)]
    tree = AllOf((Criterion("region_code", "in", ["4301"], "注册在长沙市"),
                  Criterion("revenue", ">=", 2e7, "营业收入2000万元以上"),
                  Criterion("unmapped", "review", None, "已建立研发准备金制度")))
    ev = evaluate(profiles_frame(recs), [Policy(id="p", conditions=tree)], AS_OF,
                  size_standard())
    t = matched_table(ev).set_index("uscc")
    a, b = (t.loc[str(r["uscc"])] for r in recs)
    assert a["status"] == "undetermined" and a["unknown"] == "unmapped"
    assert a["met"] == "注册在长沙市 | 营业收入2000万元以上"
    assert a["review"] == "已建立研发准备金制度"
    assert b["unknown"] == "revenue | unmapped" and b["met"] == "注册在长沙市"
    assert matched_table(ev, k_missing=1).shape[0] == 1
