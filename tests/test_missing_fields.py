"""DATA.md §5 ``unknown``: the profile fields that were missing, also behind derived attributes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.eligibility import eligibility_table, evaluate
from matcher.missing import DERIVED_INPUTS, missing_fields
from matcher.policy import Policy
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from profiles.uscc import make_uscc

AS_OF = dt.date(2026, 6, 30)
# Values that make every derived attribute computable when all inputs are present.
FULL = {"established_on": "2015-03-01", "rd_expense": 900_000.0, "rd_expense_prev": 400_000.0,
        "revenue": 30_000_000.0, "employees": 120, "total_assets": 50_000_000.0,
        "industry_code": "E4710"}  # 建筑业 uses revenue and total assets
LEAVES = {
    "age_years": {"field": "age_years", "op": ">=", "value": 1},
    "rd_ratio": {"field": "rd_ratio", "op": ">=", "value": 0.01},
    "rd_increase": {"field": "rd_increase", "op": ">", "value": 0},
    "size_class": {"field": "size_class", "op": "in", "value": ["micro", "small", "medium"]},
    "above_scale": {"field": "above_scale", "op": "==", "value": True},
}


@settings(max_examples=60, deadline=None)
@given(absent=st.sets(st.sampled_from(sorted(FULL))), derived=st.sampled_from(sorted(LEAVES)),
       with_plain=st.booleans())
def test_unknown_names_the_missing_inputs_of_a_derived_attribute(
        absent: set[str], derived: str, with_plain: bool) -> None:
    record = {"uscc": make_uscc("430111", "MA0000X1"), "name": "测试企业",
              **{k: v for k, v in FULL.items() if k not in absent}}
    children = [LEAVES[derived]]
    if with_plain:  # a plain profile field that is always missing
        children.append({"field": "export_value", "op": ">", "value": 0})
    policy = Policy.from_json({"id": "p", "title": "t", "conditions": {"all": children},
                               "benefits": []})
    frame = profiles_frame([normalize_profile(record, "t")])
    row = eligibility_table(evaluate(frame, [policy], AS_OF, size_standard())).iloc[0]
    gone = [i for i in DERIVED_INPUTS[derived] if i in absent]
    if derived == "size_class" and "industry_code" not in absent:
        gone = [i for i in gone if i != "employees"]  # 建筑业's size ignores headcount
    expected = gone + (["export_value"] if with_plain else [])
    if not gone:  # the derived attribute is known: at most the plain field is missing
        assert row["unknown"] in ("", "export_value"), row.to_dict()
        return
    assert row["status"] == "undetermined", row.to_dict()
    assert row["unknown"].split(" | ") == expected, row.to_dict()


def test_a_derived_attribute_with_every_input_present_keeps_its_name() -> None:
    # Nothing is missing to fill in (revenue is zero), so the attribute itself is named.
    assert missing_fields(["rd_ratio"], ["rd_expense", "revenue"], 0) == ["rd_ratio"]
    assert missing_fields(["rd_ratio", "revenue"], ["rd_expense", "revenue"], 0b10) == [
        "revenue"]
    assert missing_fields(["unmapped"], [], 0) == ["unmapped"]
