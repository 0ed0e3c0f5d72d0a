"""Contract: a bare section letter (DATA.md §1) is unknown against a finer industry prefix.

``industry_code`` may be just ``C`` "when that is all that is known"; such a firm may or
may not be in 通用设备制造业 (C34), so ``in ["C34"]`` / ``not_in ["C34"]`` must be
*unknown* for it — calling it false would wrongly reject (or clear) the firm.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.conditions import Criterion
from matcher.eligibility import evaluate
from matcher.logic import STATUS_NAMES
from matcher.policy import Policy
from profiles.read import profiles_frame
from profiles.reference import size_standard
from profiles.uscc import make_uscc

AS_OF = dt.date(2026, 6, 30)
CODES = ["C", "C34", "C3491", "C1311", "F", "F5211", "F5124", "I6513", "A"]
PREFIXES = ["C", "C34", "C3491", "F", "F51", "F52", "I65", "A01", "K"]


def _statuses(codes: list[str], op: str, prefixes: list[str]) -> dict[str, str]:
    records = [
        {"uscc": make_uscc("430111", f"MA{i:06d}"), "name": f"企业{i}", "industry_code": c}
        for i, c in enumerate(codes)
    ]
    policy = Policy(id="p", conditions=Criterion("industry_code", op, prefixes, "行业"))
    ev = evaluate(profiles_frame(records), [policy], AS_OF, size_standard())
    by_uscc = dict(zip(ev.firms.uscc, ev.status[0], strict=True))
    return {r["industry_code"]: STATUS_NAMES[int(by_uscc[r["uscc"]])] for r in records}


def _expected(code: str, op: str, prefixes: list[str]) -> str:
    """DATA.md read literally, plus: a code coarser than a listed prefix may be inside it."""
    if any(code.startswith(p) for p in prefixes):
        return "eligible" if op == "in" else "ineligible"
    if any(p.startswith(code) for p in prefixes):
        return "undetermined"
    return "ineligible" if op == "in" else "eligible"


def test_bare_section_letter_is_undetermined_for_a_finer_prefix() -> None:
    got = _statuses(["C", "F", "C3491", "I6513"], "in", ["C34", "F51"])
    assert got == {"C": "undetermined", "F": "undetermined", "C3491": "eligible",
                   "I6513": "ineligible"}
    got = _statuses(["C", "F", "C3491", "I6513"], "not_in", ["C34", "F51"])
    assert got == {"C": "undetermined", "F": "undetermined", "C3491": "ineligible",
                   "I6513": "eligible"}


def test_a_matching_coarser_prefix_still_decides() -> None:
    got = _statuses(["C", "C3491"], "in", ["C", "C34"])
    assert got == {"C": "eligible", "C3491": "eligible"}


@settings(max_examples=60, deadline=None)
@given(
    codes=st.lists(st.sampled_from(CODES), min_size=1, max_size=len(CODES), unique=True),
    op=st.sampled_from(["in", "not_in"]),
    prefixes=st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=4, unique=True),
)
def test_prefix_leaf_matches_the_contract_reading(
    codes: list[str], op: str, prefixes: list[str]
) -> None:
    got = _statuses(codes, op, prefixes)
    assert got == {c: _expected(c, op, prefixes) for c in codes}


def test_many_codes_take_the_table_path_with_unknowns() -> None:
    """More than 32 distinct codes: the lookup is no longer packed bits; unknown must survive."""
    from profiles.reference import industry_names

    fine = sorted(c for c in industry_names() if c.startswith("C") and len(c) == 5)[:40]
    got = _statuses(["C", *fine], "in", ["C34"])
    assert got["C"] == "undetermined"
    assert all(got[c] == ("eligible" if c.startswith("C34") else "ineligible") for c in fine)
