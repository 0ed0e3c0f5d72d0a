"""The compiled evaluator against the per-firm oracle, and the laws of Kleene logic."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not, parse_condition
from matcher.derive import derive
from matcher.eligibility import eligibility_table, evaluate
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from tests import oracle
from tests.strategies import COUNTS, MONEY, firm_records, firm_tables, leaves, trees

AS_OF = dt.date(2026, 11, 25)


def verdicts(records: list[dict[str, Any]], conditions: list[Condition | None]) -> np.ndarray:
    """Kernel verdicts, shape (n_policies, n_firms) in input order."""
    frame = profiles_frame(records)
    policies = [Policy(id=f"p{i}", conditions=c) for i, c in enumerate(conditions)]
    ev = evaluate(frame, policies, AS_OF, size_standard())
    out = np.empty_like(ev.status)
    out[:, ev.firms.order] = ev.status
    return out


def oracle_verdicts(records: list[dict[str, Any]],
                    conditions: list[Condition | None]) -> np.ndarray:
    derived = derive(profiles_frame(records), AS_OF, size_standard())
    rows = derived.to_dict(orient="records")
    return np.array([[oracle.evaluate(r, c) for r in rows] for c in conditions], dtype=np.uint8)


@given(firm_records())
def test_records_from_strategies_are_valid(rec: dict[str, Any]) -> None:
    """The generated records are what the reader accepts, unchanged."""
    assert normalize_profile(dict(rec), "t") == rec


@given(firm_tables(), st.lists(trees(), min_size=1, max_size=4))
def test_kernel_agrees_with_oracle(records: list[dict[str, Any]], conds: list[Condition]) -> None:
    np.testing.assert_array_equal(verdicts(records, conds), oracle_verdicts(records, conds))


@given(firm_tables(), st.lists(leaves(), min_size=1, max_size=4), leaves())
def test_region_index_agrees_with_oracle(
    records: list[dict[str, Any]], rest: list[Criterion], region: Criterion
) -> None:
    """A root ``all`` with a region leaf takes the indexed path; it must not change verdicts."""
    region_leaf = Criterion("region_code", "in", ["4301", "11"], source="长沙市或北京市")
    conds: list[Condition] = [AllOf((region_leaf, *rest)), region_leaf,
                              AllOf((*rest, Criterion("region_code", "==", "430111")))]
    np.testing.assert_array_equal(verdicts(records, conds), oracle_verdicts(records, conds))


OPTIONAL_VALUES: dict[str, list[Any]] = {
    "region_code": ["430111", "110105"],
    "industry_code": ["C3491", "F5211", "I6513"],
    "established_on": ["2023-11-25", "2010-01-01"],
    "employees": [float(c) for c in COUNTS],
    "revenue": MONEY,
    "total_assets": MONEY,
    "rd_expense": MONEY,
    "rd_expense_prev": MONEY,
    "qualifications": [[], [{"name": "高新技术企业"}]],
    "listed": [True, False],
    "serious_dishonesty": [True, False],
    "tax_credit_rating": ["A", "M", "D"],
    "tags": [[], ["外贸"]],
}


@given(firm_records(), st.lists(trees(), min_size=1, max_size=3), st.data())
def test_filling_an_unknown_never_flips_a_known_verdict(
    rec: dict[str, Any], conds: list[Condition], data: st.DataObject
) -> None:
    missing = [f for f in OPTIONAL_VALUES if f not in rec]
    if not missing:
        return
    field = data.draw(st.sampled_from(missing))
    filled = {**rec, field: data.draw(st.sampled_from(OPTIONAL_VALUES[field]))}
    before = verdicts([rec], conds)[:, 0]
    after = verdicts([filled], conds)[:, 0]
    known = before != UNKNOWN
    np.testing.assert_array_equal(before[known], after[known])


@given(firm_tables(), st.lists(trees(max_leaves=6), min_size=2, max_size=4))
def test_de_morgan_and_double_negation(records: list[dict[str, Any]],
                                       parts: list[Condition]) -> None:
    conds: list[Condition] = [
        Not(AllOf(tuple(parts))),
        AnyOf(tuple(Not(p) for p in parts)),
        Not(AnyOf(tuple(parts))),
        AllOf(tuple(Not(p) for p in parts)),
        Not(Not(parts[0])),
        parts[0],
    ]
    v = verdicts(records, conds)
    np.testing.assert_array_equal(v[0], v[1])
    np.testing.assert_array_equal(v[2], v[3])
    np.testing.assert_array_equal(v[4], v[5])


@given(trees())
def test_json_round_trip(tree: Condition) -> None:
    assert parse_condition(tree.to_json()) == tree


def test_kleene_tables_on_literal_leaves() -> None:
    """all/any/not on (false, unknown, true) leaves, exactly DATA.md §3's tables."""
    from profiles.uscc import make_uscc

    rec = {"uscc": make_uscc("430111", "MA000000"), "name": "x", "revenue": 100.0}
    f = Criterion("revenue", ">", 1000)
    u = Criterion("unmapped", "review", None)
    t = Criterion("revenue", "<", 1000)
    cases = {
        AllOf((t, u)): UNKNOWN, AllOf((f, u)): FALSE, AllOf((t, t)): TRUE,
        AnyOf((f, u)): UNKNOWN, AnyOf((t, u)): TRUE, AnyOf((f, f)): FALSE,
        Not(u): UNKNOWN, Not(f): TRUE, Not(t): FALSE,
    }
    v = verdicts([rec], list(cases))[:, 0]
    assert list(v) == list(cases.values())


def test_validity_window_and_reasons() -> None:
    from profiles.uscc import make_uscc

    recs = [
        {"uscc": make_uscc("430111", "MA000001"), "name": "甲", "region_code": "430111",
         "revenue": 30_000_000.0, "industry_code": "C3491"},
        {"uscc": make_uscc("430211", "MA000002"), "name": "乙", "region_code": "430211",
         "revenue": 1_000_000.0},
    ]
    cond = parse_condition({"all": [
        {"field": "region_code", "op": "in", "value": ["4301"], "source": "在长沙市注册"},
        {"field": "revenue", "op": ">=", "value": 20_000_000, "source": "营业收入2000万元以上"},
        {"any": [
            {"field": "qualifications", "op": "has", "value": "高新技术企业",
             "source": "高新技术企业"},
            {"field": "rd_ratio", "op": ">=", "value": 0.03, "source": "研发投入占比3%以上"},
        ]},
    ]})
    policies = [
        Policy(id="open", conditions=cond),
        Policy(id="expired", conditions=cond, valid_until=dt.date(2025, 12, 31)),
        Policy(id="future", conditions=None, valid_from=dt.date(2027, 1, 1)),
        Policy(id="always", conditions=None),
    ]
    ev = evaluate(profiles_frame([normalize_profile(r, "t") for r in recs]), policies, AS_OF,
                  size_standard())
    table = eligibility_table(ev).set_index(["uscc", "policy_id"])
    a, b = recs[0]["uscc"], recs[1]["uscc"]
    assert table.loc[(a, "open"), "status"] == "undetermined"
    # rd_ratio is derived: the firm is asked for the input it lacks (DATA.md §5).
    assert table.loc[(a, "open"), "unknown"] == "qualifications | rd_expense"
    assert table.loc[(a, "open"), "unmet"] == ""
    assert table.loc[(b, "open"), "status"] == "ineligible"
    # 乙 fails region and revenue; the unknown alternatives are not blamed.
    assert table.loc[(b, "open"), "unmet"] == "在长沙市注册 | 营业收入2000万元以上"
    assert table.loc[(a, "expired"), "status"] == "ineligible"
    assert "有效期" in table.loc[(a, "expired"), "unmet"]
    assert (table.xs("future", level="policy_id")["status"] == "ineligible").all()
    assert (table.xs("always", level="policy_id")["status"] == "eligible").all()
    assert list(table.reset_index().columns) == [
        "uscc", "policy_id", "status", "amount", "unmet", "unknown", "score"]


def test_table_is_sorted_and_deterministic() -> None:
    from profiles.uscc import make_uscc

    recs = [normalize_profile({"uscc": make_uscc(r, f"MA00{i:04d}"), "name": f"企业{i}",
                               "region_code": r, "revenue": float(i * 1e6)}, "t")
            for i, r in enumerate(["431321", "430111", "110105", "430102"])]
    policies = [Policy(id=pid, conditions=Criterion("revenue", ">=", 2e6)) for pid in "bca"]
    t1 = eligibility_table(evaluate(profiles_frame(recs), policies, AS_OF, size_standard()))
    t2 = eligibility_table(evaluate(profiles_frame(recs[::-1]), policies[::-1], AS_OF,
                                    size_standard()))
    pd.testing.assert_frame_equal(t1, t2)
    assert list(t1["uscc"]) == sorted(t1["uscc"])
    assert t1.groupby("uscc")["policy_id"].apply(list).map(lambda x: x == sorted(x)).all()


def test_reasons_for_trees_longer_than_the_tracked_leaves() -> None:
    """Beyond 64 leaves explanations take the one-leaf-at-a-time path; same wording rules."""
    from profiles.uscc import make_uscc

    recs = [normalize_profile({"uscc": make_uscc("430111", f"MA00{i:04d}"), "name": f"企业{i}",
                               "revenue": float(v)}, "t")
            for i, v in enumerate([35, 100])]
    recs.append(normalize_profile({"uscc": make_uscc("430111", "MA009999"), "name": "无收入"}, "t"))
    tree = AllOf(tuple(Criterion("revenue", ">=", k, source=f"营收≥{k}") for k in range(70)))
    ev = evaluate(profiles_frame(recs), [Policy(id="long", conditions=tree)], AS_OF,
                  size_standard())
    table = eligibility_table(ev).set_index("uscc")
    low, high, none = (r["uscc"] for r in recs)
    assert table.loc[low, "unmet"] == " | ".join(f"营收≥{k}" for k in range(36, 70))
    assert table.loc[high, "status"] == "eligible"
    assert table.loc[none, "unknown"] == "revenue" and table.loc[none, "unmet"] == ""
