"""Hypothesis strategies: valid firm records and condition trees over every field kind.

Values are drawn from small sets around the legal thresholds (2000万, 300人, 3%) so that
bounds, equality and unknowns are hit often.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.fields import QUALIFICATIONS, SIZE_CLASSES, TAX_CREDIT_RATINGS
from profiles.uscc import make_uscc

REGIONS = ["430111", "430102", "430211", "430302", "431321", "433101", "110105", "420106"]
INDUSTRIES = ["C", "C3491", "C3911", "C1311", "F", "F5211", "F5124", "I6513", "I6311",
              "K7010", "G5910", "H6210", "E4710", "L7211", "A0111", "M7320"]
MONEY = [0.0, 999_999.0, 1_000_000.0, 5_000_000.0, 19_999_999.0, 20_000_000.0,
         400_000_000.0, 1_000_000_000.0]
COUNTS = [0, 5, 10, 20, 100, 299, 300, 1000, 2500]
RATIOS = [0.0, 0.02, 0.03, 0.05, 0.1, 0.3, 0.6]
DATES = ["2000-02-29", "2015-06-30", "2020-11-26", "2023-11-25", "2023-11-26", "2025-01-01"]

_maybe = st.one_of  # readability


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value or None (unknown)."""
    return st.one_of(st.none(), strategy)


@st.composite
def qualification_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    items = []
    for name in draw(st.lists(st.sampled_from(QUALIFICATIONS), max_size=3, unique=True)):
        q: dict[str, Any] = {"name": name}
        window = draw(st.sampled_from(["open", "valid", "expired", "future"]))
        if window == "valid":
            q.update(valid_from="2024-01-01", valid_until="2027-12-31")
        elif window == "expired":
            q.update(valid_until="2025-12-31")
        elif window == "future":
            q.update(valid_from="2027-01-01")
        items.append(q)
    return items


@st.composite
def firm_records(draw: st.DrawFn, index: int = 0) -> dict[str, Any]:
    """A valid contract record; each optional field may be absent (unknown)."""
    region = draw(_opt(st.sampled_from(REGIONS)))
    body = f"MA{index:06d}"
    rec: dict[str, Any] = {
        "uscc": make_uscc(region or "430100", body),
        "name": f"测试企业{index}",
    }
    fields: dict[str, Any] = {
        "region_code": region,
        "industry_code": draw(_opt(st.sampled_from(INDUSTRIES))),
        "established_on": draw(_opt(st.sampled_from(DATES))),
        "employees": draw(_opt(st.sampled_from(COUNTS).map(float))),
        "revenue": draw(_opt(st.sampled_from(MONEY))),
        "total_assets": draw(_opt(st.sampled_from(MONEY))),
        "rd_expense": draw(_opt(st.sampled_from(MONEY))),
        "rd_expense_prev": draw(_opt(st.sampled_from(MONEY))),
        "rd_staff_ratio": draw(_opt(st.sampled_from(RATIOS))),
        "layoff_rate": draw(_opt(st.sampled_from(RATIOS))),
        "invention_patents": draw(_opt(st.sampled_from(COUNTS).map(float))),
        "tax_credit_rating": draw(_opt(st.sampled_from(TAX_CREDIT_RATINGS))),
        "qualifications": draw(_opt(qualification_lists())),
        "listed": draw(_opt(st.booleans())),
        "serious_dishonesty": draw(_opt(st.booleans())),
        "tags": draw(_opt(st.lists(st.sampled_from(["外贸", "科技", "民营"]), unique=True))),
    }
    rec.update({k: v for k, v in fields.items() if v is not None})
    return rec


@st.composite
def firm_tables(draw: st.DrawFn, min_size: int = 1, max_size: int = 25) -> list[dict[str, Any]]:
    n = draw(st.integers(min_size, max_size))
    return [draw(firm_records(index=i)) for i in range(n)]


def _prefixes() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(["43", "4301", "430111", "4302", "11", "4201"]),
                    min_size=1, max_size=3, unique=True)


def _industry_prefixes() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(["C", "C34", "C3491", "F52", "I65", "K", "G59"]),
                    min_size=1, max_size=3, unique=True)


def leaves() -> st.SearchStrategy[Criterion]:
    num_fields = {
        "revenue": MONEY, "total_assets": MONEY, "rd_expense": MONEY, "employees": COUNTS,
        "invention_patents": COUNTS, "rd_ratio": RATIOS, "rd_staff_ratio": RATIOS,
        "layoff_rate": RATIOS, "age_years": [0, 1, 2, 3, 5, 10], "rd_increase": MONEY,
    }
    numeric = st.sampled_from(sorted(num_fields)).flatmap(
        lambda f: st.one_of(
            st.builds(Criterion, st.just(f), st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
                      st.sampled_from(num_fields[f])),
            st.builds(Criterion, st.just(f), st.sampled_from(["in", "not_in"]),
                      st.lists(st.sampled_from(num_fields[f]), min_size=1, max_size=3)),
        )
    )
    return st.one_of(
        numeric,
        st.builds(Criterion, st.just("region_code"), st.sampled_from(["in", "not_in"]),
                  _prefixes()),
        st.builds(Criterion, st.just("region_code"), st.sampled_from(["==", "!="]),
                  st.sampled_from(REGIONS)),
        st.builds(Criterion, st.just("industry_code"), st.sampled_from(["in", "not_in"]),
                  _industry_prefixes()),
        st.builds(Criterion, st.just("size_class"), st.sampled_from(["==", "!=", ">=", "<"]),
                  st.sampled_from(SIZE_CLASSES)),
        st.builds(Criterion, st.just("size_class"), st.sampled_from(["in", "not_in"]),
                  st.lists(st.sampled_from(SIZE_CLASSES), min_size=1, max_size=2, unique=True)),
        st.builds(Criterion, st.just("tax_credit_rating"),
                  st.sampled_from([">=", "<=", "==", "!="]), st.sampled_from(TAX_CREDIT_RATINGS)),
        st.builds(Criterion, st.just("qualifications"), st.sampled_from(["has", "not_has"]),
                  st.sampled_from(QUALIFICATIONS)),
        st.builds(Criterion, st.sampled_from(["listed", "serious_dishonesty", "above_scale"]),
                  st.sampled_from(["==", "!="]), st.booleans()),
        st.builds(Criterion, st.just("tags"), st.sampled_from(["has", "not_has"]),
                  st.sampled_from(["外贸", "科技"])),
        st.builds(Criterion, st.just("established_on"), st.sampled_from([">=", "<"]),
                  st.sampled_from(DATES)),
        st.builds(Criterion, st.just("unmapped"), st.just("review"), st.none()),
    ).map(lambda c: Criterion(c.field, c.op, c.value, source=f"{c.field} {c.op} {c.value}"))


def trees(max_leaves: int = 12) -> st.SearchStrategy[Condition]:
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda cs: AllOf(tuple(cs))),
            st.lists(children, min_size=1, max_size=4).map(lambda cs: AnyOf(tuple(cs))),
            children.map(Not),
        ),
        max_leaves=max_leaves,
    )
