"""The compiled catalogue agrees with ``matcher.eligibility.evaluate`` on every verdict."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.catalogue import CompiledCatalogue
from matcher.eligibility import evaluate
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy
from profiles.read import profiles_frame
from profiles.reference import size_standard
from profiles.uscc import make_uscc

AS_OF = dt.date(2026, 6, 30)
REGIONS = ["430102", "430111", "430203", "430211", "430302", "440105", "110101"]
INDUSTRIES = ["C3491", "C3421", "C34", "C", "I6513", "F5193", "A0111", "C3973"]
REGION_PREFIXES = ["43", "4301", "430111", "4302", "44", "440105", "11", "430102"]
INDUSTRY_PREFIXES = ["C", "C34", "C3491", "I65", "F", "I6513", "A", "C39"]


def _leaf(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["region", "industry", "number", "size", "rating", "bool", "qual", "date", "tags",
         "unmapped"]
    ))
    if kind == "region":
        op = draw(st.sampled_from(["in", "not_in", "==", "!="]))
        vals = draw(st.lists(st.sampled_from(REGION_PREFIXES + REGIONS), min_size=1, max_size=3))
        return {"field": "region_code", "op": op, "value": vals if "in" in op else vals[0]}
    if kind == "industry":
        op = draw(st.sampled_from(["in", "not_in", "==", "!="]))
        vals = draw(st.lists(st.sampled_from(INDUSTRY_PREFIXES + INDUSTRIES), min_size=1,
                             max_size=3))
        return {"field": "industry_code", "op": op, "value": vals if "in" in op else vals[0]}
    if kind == "number":
        field = draw(st.sampled_from(["revenue", "employees", "rd_ratio", "age_years"]))
        op = draw(st.sampled_from([">=", ">", "<=", "<", "==", "!="]))
        value = {"revenue": 2e7, "employees": 100, "rd_ratio": 0.03, "age_years": 3}[field]
        return {"field": field, "op": op, "value": value}
    if kind == "size":
        return {"field": "size_class", "op": draw(st.sampled_from(["<=", "==", ">="])),
                "value": draw(st.sampled_from(["micro", "small", "medium", "large"]))}
    if kind == "rating":
        op = draw(st.sampled_from([">=", "in"]))
        return {"field": "tax_credit_rating", "op": op, "value": ["A", "B"] if op == "in" else "B"}
    if kind == "bool":
        return {"field": draw(st.sampled_from(["listed", "above_scale", "serious_dishonesty"])),
                "op": "==", "value": draw(st.booleans())}
    if kind == "qual":
        return {"field": "qualifications", "op": draw(st.sampled_from(["has", "not_has"])),
                "value": "高新技术企业"}
    if kind == "date":
        return {"field": "established_on", "op": draw(st.sampled_from([">=", "<"])),
                "value": "2020-01-01"}
    if kind == "tags":
        return {"field": "tags", "op": "has", "value": "外资"}
    return {"field": "unmapped", "op": "review", "value": None}


@st.composite
def trees(draw: Any, depth: int = 2) -> dict[str, Any]:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        leaf = _leaf(draw)
        if leaf["op"] in ("in", "not_in") and not isinstance(leaf["value"], list):
            leaf["value"] = [leaf["value"]]
        return leaf
    kind = draw(st.sampled_from(["all", "any", "not"]))
    if kind == "not":
        return {"not": draw(trees(depth - 1))}
    return {kind: draw(st.lists(trees(depth - 1), min_size=1, max_size=3))}


@st.composite
def policies(draw: Any) -> list[Policy]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        obj: dict[str, Any] = {"id": f"p{i}", "conditions": draw(trees())}
        if draw(st.booleans()):
            obj["valid_until"] = draw(st.sampled_from(["2025-12-31", "2026-12-31"]))
        if draw(st.booleans()):
            obj["preferences"] = [draw(trees(1))]
        obj["benefits"] = draw(st.lists(st.sampled_from([
            {"kind": "grant", "amount": 500000},
            {"kind": "subsidy", "rate": 0.1, "base": "rd_expense", "cap": 300000},
            {"kind": "subsidy", "rate": 0.05, "base": "revenue"},
            {"kind": "tax", "rate": 0.5},  # no base: not computable
        ]), max_size=3))
        out.append(Policy.from_json(obj))
    return out


@st.composite
def firms(draw: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(draw(st.integers(1, 8))):
        rec: dict[str, Any] = {"uscc": make_uscc("430102", f"{i:08d}"), "name": f"f{i}"}
        opt = {
            "region_code": st.sampled_from(REGIONS),
            "industry_code": st.sampled_from(INDUSTRIES),
            "revenue": st.sampled_from([1e6, 2e7, 3e8]),
            "employees": st.sampled_from([5.0, 100.0, 900.0]),
            "total_assets": st.sampled_from([1e6, 5e8]),
            "rd_expense": st.sampled_from([0.0, 6e5, 9e6]),
            "established_on": st.sampled_from(["2010-05-01", "2020-01-01", "2024-03-01"]),
            "tax_credit_rating": st.sampled_from(["A", "B", "M", "C"]),
            "listed": st.booleans(),
            "serious_dishonesty": st.booleans(),
            "qualifications": st.sampled_from([[], [{"name": "高新技术企业"}]]),
            "tags": st.sampled_from([[], ["外资"]]),
        }
        for key, strat in opt.items():
            if draw(st.booleans()):
                rec[key] = draw(strat)
        rows.append(rec)
    return rows


@settings(max_examples=60)
@given(policies(), firms())
def test_catalogue_verdicts_equal_core_evaluate(pols: list[Policy], rows: list[dict]) -> None:
    frame = profiles_frame(rows)
    std = size_standard()
    core = evaluate(frame, pols, AS_OF, std)
    ev, prefs = CompiledCatalogue.build(pols, AS_OF).evaluate(frame, std)
    assert np.array_equal(core.firms.order, ev.firms.order)
    assert np.array_equal(core.status, ev.status)
    amounts = CompiledCatalogue.build(pols, AS_OF).amounts(ev.firms)
    for p in range(len(pols)):
        np.testing.assert_array_equal(amounts[p], core.amounts(p))
    # Preferences: the same as evaluating each preference as a policy of its own.
    pseudo = [
        Policy(id=f"{p.id}-{j}", conditions=c, valid_from=p.valid_from,
               valid_until=p.valid_until)
        for p in pols for j, c in enumerate(p.preferences)
    ]
    if pseudo:
        assert np.array_equal(evaluate(frame, pseudo, AS_OF, std).status, prefs)
    else:
        assert prefs.shape == (0, len(rows))


def test_one_catalogue_serves_batches_with_different_codes() -> None:
    pols = [Policy.from_json({"id": "a", "conditions": {"all": [
        {"field": "region_code", "op": "in", "value": ["4301"]},
        {"field": "industry_code", "op": "in", "value": ["C34"]},
    ]}})]
    cat = CompiledCatalogue.build(pols, AS_OF)
    std = size_standard()
    for region, industry, want in [
        ("430111", "C3491", TRUE), ("430211", "C3491", FALSE), ("430111", "C3973", FALSE),
        ("430102", "C", FALSE), (None, "C3421", UNKNOWN),
    ]:
        rec = {"uscc": make_uscc("430102", "00000001"), "name": "x", "industry_code": industry}
        if region:
            rec["region_code"] = region
        ev, _ = cat.evaluate(profiles_frame([rec]), std)
        assert ev.status[0, 0] == want, (region, industry)


def test_preference_fit_is_the_share_met() -> None:
    pols = [Policy.from_json({"id": "a", "preferences": [
        {"field": "qualifications", "op": "has", "value": "高新技术企业"},
        {"field": "revenue", "op": ">=", "value": 1e7},
    ]}), Policy.from_json({"id": "b"})]
    cat = CompiledCatalogue.build(pols, AS_OF)
    rows = [
        {"uscc": make_uscc("430102", "00000001"), "name": "x", "revenue": 2e7,
         "qualifications": [{"name": "高新技术企业"}]},
        {"uscc": make_uscc("430102", "00000002"), "name": "y", "revenue": 2e7},
    ]
    ev, prefs = cat.evaluate(profiles_frame(rows), size_standard())
    fit = cat.preference_fit(prefs)[:, np.argsort(ev.firms.order)]
    np.testing.assert_allclose(fit, [[1.0, 0.5], [0.0, 0.0]])  # unknown counts as not met
