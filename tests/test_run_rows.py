"""Columnar listed rows: the same list as the core's eligibility table, text made at the end."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.conditions import Condition, Criterion
from matcher.eligibility import eligibility_table, evaluate, format_amounts
from matcher.policy import Benefit, Policy
from matcher.rows import listed_rows, published_amounts
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from runs.csv_lines import amount_parts
from runs.outputs import amount_text, csv_bytes
from tests.strategies import firm_tables, trees

AS_OF = dt.date(2025, 6, 30)
LISTED = ["eligible", "undetermined"]


def _benefits(a: float) -> tuple[Benefit, ...]:
    """-1: none; -2: a rate on revenue (amounts with fen, unknown without revenue)."""
    if a == -1:
        return ()
    if a == -2:
        return (Benefit(kind="rate", rate=0.01337, base="revenue"),)
    return (Benefit(kind="fixed", amount=a),)


def _policies(conds: list[Condition], amounts: list[float]) -> list[Policy]:
    return [Policy(id=f"p{k:02d}"[::-1], conditions=c, benefits=_benefits(a))
            for k, (c, a) in enumerate(zip(conds, amounts, strict=True))]


@settings(max_examples=25, deadline=None)
@given(firm_tables(max_size=20), st.lists(trees(6), min_size=1, max_size=4),
       st.lists(st.sampled_from([-1.0, -2.0, 0.0, 12.345, 2.995, 5_000_000.0, 0.125]),
                min_size=4, max_size=4),
       st.sampled_from([None, LISTED, ["ineligible"]]))
def test_listed_rows_are_the_core_table(records: list[dict[str, Any]], conds: list[Condition],
                                        amounts: list[float], statuses: list[str] | None
                                        ) -> None:
    """Same rows, statuses, amounts (as text) and reasons; order policy_id then uscc."""
    recs = [normalize_profile(r, f"r{i}") for i, r in enumerate(records)]
    ev = evaluate(profiles_frame(recs), _policies(conds, amounts[:len(conds)]), AS_OF,
                  size_standard())
    core = eligibility_table(ev, statuses=statuses)
    core = core.sort_values(["policy_id", "uscc"], kind="stable").reset_index(drop=True)
    by_uscc = np.argsort(ev.firms.uscc.astype(str), kind="stable")
    rows = listed_rows(ev, statuses, by_uscc)
    ids = np.array([p.id for p in ev.policies], dtype=object)
    mine = pd.DataFrame({
        "uscc": ev.firms.uscc[rows.firm].astype(object),
        "policy_id": ids[rows.policy],
        "status": np.array(["ineligible", "undetermined", "eligible"], dtype=object)[
            rows.status],
        "amount": format_amounts(rows.amount),
        "unmet": np.array(rows.unmet, dtype=object)[rows.reason],
        "unknown": np.array(rows.unknown, dtype=object)[rows.reason],
    })
    expected = core[["uscc", "policy_id", "status", "amount", "unmet", "unknown"]]
    assert mine.values.tolist() == expected.values.tolist()
    assert rows.unmet[0] == "" and rows.unknown[0] == ""  # code 0: no reason
    assert len(set(zip(rows.unmet, rows.unknown, strict=True))) == len(rows.unmet)


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e9, max_value=1e9),
    # around half a fen and half a yuan, where rounding is decided
    st.integers(-10**9, 10**9).map(lambda k: k / 1000 + 0.005),
    st.integers(-10**7, 10**7).map(lambda k: k / 100 + 0.005),
    st.integers(-10**7, 10**7).map(lambda k: k + 0.995),
    st.integers(-10**7, 10**7).map(lambda k: float(np.nextafter(k / 100 + 0.005, 0))),
)


@settings(max_examples=300)
@given(st.lists(FLOATS.filter(lambda v: not np.isfinite(v) or abs(v) < 1e15), max_size=40))
def test_amount_text_is_format_amounts(values: list[float]) -> None:
    """The writers' amounts equal the core's formatting, including values at half a fen."""
    v = np.array(values, dtype=np.float64)
    expected = format_amounts(v).tolist()
    assert amount_text(pa.array(v, from_pandas=True)).to_pylist() == expected
    # the published number is the one its text denotes, and prints the same text
    pub = published_amounts(v)
    assert format_amounts(pub).tolist() == expected
    known = np.isfinite(v)
    assert np.array_equal(pub[known], np.array([float(t) for t in np.array(expected)[known]]))
    table = pa.table({"uscc": pa.array(["x"] * len(v)), "amount": pa.array(pub)})
    lines = csv_bytes(table, ("uscc", "amount")).decode()
    assert lines == "".join(f"x,{t}\n" for t in format_amounts(pub))
    kind, _, texts, _ = amount_parts(v)
    assert len(texts) == int((kind == 3).sum())


def test_dictionary_columns_write_the_same_csv_as_text() -> None:
    reasons = ["", "营业收入≥2000万元, 且\"高企\"", "多行\n原因"]
    idx = np.array([0, 1, 2, 1, 0, 2], dtype=np.int32)
    coded = pa.table({
        "uscc": pa.array([f"U{i}" for i in range(6)]),
        "policy_id": pa.DictionaryArray.from_arrays(pa.array([0, 0, 1, 1, 1, 1], pa.int32()),
                                                    pa.array(["a", "b"])),
        "status": pa.DictionaryArray.from_arrays(pa.array([2, 1, 1, 2, 2, 1], pa.int32()),
                                                 pa.array(["ineligible", "undetermined",
                                                           "eligible"])),
        "amount": pa.array([1.0, None, 2.5, 1e6, 0.125, 3.0]),
        "unmet": pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(reasons)),
        "unknown": pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(["", "x", "y"])),
    })
    text = pa.table({c: pa.array([
        "" if v is None else (format_amounts(np.array([v]))[0] if c == "amount" else str(v))
        for v in coded.column(c).to_pylist()]) for c in coded.column_names})
    assert csv_bytes(coded) == csv_bytes(text)
    assert csv_bytes(coded).decode().splitlines()[1].startswith("U1,a,undetermined,,")
    assert '"营业收入≥2000万元, 且""高企"""' in csv_bytes(coded).decode()


def test_reasons_are_worded_once_per_pattern() -> None:
    from profiles.uscc import make_uscc

    recs = [normalize_profile({"uscc": make_uscc("430111", f"MA00{i:04d}"), "name": f"企业{i}",
                               **({"revenue": float(i % 3) * 1e7} if i % 4 else {})}, "t")
            for i in range(40)]
    pol = Policy(id="p", conditions=Criterion("revenue", ">=", 1.5e7, source="营收≥1500万"))
    ev = evaluate(profiles_frame(recs), [pol], AS_OF, size_standard())
    rows = listed_rows(ev, None)
    assert sorted(zip(rows.unmet, rows.unknown, strict=True)) == \
        [("", ""), ("", "revenue"), ("营收≥1500万", "")]
    assert len(rows) == 40
