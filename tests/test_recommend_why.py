"""Explanations: met/unmet/unknown requirements and the smallest change for near misses."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.conditions import parse_condition
from matcher.estimator import PolicyMatcher
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy
from matcher.why import FirmFigures, change_sentence, leaf_change, reasons, smallest_change
from profiles.read import profiles_frame
from profiles.reference import industry_names, size_standard
from profiles.uscc import make_uscc

AS_OF = dt.date(2026, 6, 30)

RD = {"field": "rd_ratio", "op": ">=", "value": 0.03, "source": "研发投入占比不低于3%"}
HUNAN = {"field": "region_code", "op": "in", "value": ["43"], "source": "湖南省内注册"}
PATENTS = {"any": [
    {"field": "invention_patents", "op": ">=", "value": 2, "source": "发明专利2件以上"},
    {"field": "utility_patents", "op": ">=", "value": 8, "source": "实用新型专利8件以上"},
]}


def _firm(**kw: Any) -> dict[str, Any]:
    base = {"uscc": make_uscc("430111", "0000000" + str(kw.pop("n", 1))),
            "name": "长沙某智能装备有限公司",
            "region_code": "430111", "industry_code": "C3491",
            "business_scope": "工业机器人制造；伺服控制机构制造", "products": "六轴关节机器人"}
    base.update(kw)
    return base


def test_the_issue_example_sentence() -> None:
    tree = parse_condition({"all": [RD, HUNAN]})
    assert tree is not None
    leaves = list(tree.leaves())
    firm = FirmFigures({"rd_ratio": 0.024, "revenue": 2e8})
    cost, changes, after = smallest_change(tree, leaves, [FALSE, TRUE], firm)
    assert cost == pytest.approx(0.2)
    assert after == TRUE
    assert change_sentence(changes, after) == "研发投入占比2.4%，达到3%（再投入约¥120万）即可申报"


def test_any_takes_the_cheaper_alternative_and_all_adds_costs() -> None:
    tree = parse_condition({"all": [RD, PATENTS]})
    assert tree is not None
    leaves = list(tree.leaves())
    firm = FirmFigures({"rd_ratio": 0.024, "revenue": 2e8, "invention_patents": 1,
                        "utility_patents": 7})
    cost, changes, after = smallest_change(tree, leaves, [FALSE, FALSE, FALSE], firm)
    # 实用新型 7 → 8 (gap 1/8) is cheaper than 发明 1 → 2 (gap 1/2).
    assert [c.leaf.field for c in changes] == ["rd_ratio", "utility_patents"]
    assert cost == pytest.approx(0.2 + 1 / 8)
    assert "实用新型专利7件，达到8件" in change_sentence(changes, after)


def test_unattainable_requirements_give_no_change() -> None:
    tree = parse_condition({"all": [HUNAN, {"field": "employees", "op": "<=", "value": 300}]})
    assert tree is not None
    leaves = list(tree.leaves())
    firm = FirmFigures({"employees": 500})
    assert smallest_change(tree, leaves, [FALSE, FALSE], firm)[0] == math.inf
    assert smallest_change(tree, leaves, [TRUE, FALSE], firm)[0] == math.inf
    assert leaf_change(leaves[1], firm) is None  # shrinking a firm is no "small change"


def test_unknowns_stay_open_after_the_change() -> None:
    tree = parse_condition({"all": [RD, {"field": "unmapped", "op": "review", "value": None,
                                         "source": "建立研发准备金制度"}]})
    assert tree is not None
    cost, changes, after = smallest_change(
        tree, list(tree.leaves()), [FALSE, UNKNOWN], FirmFigures({"rd_ratio": 0.025})
    )
    assert after == UNKNOWN
    assert change_sentence(changes, after).endswith("其余条件待核实后可申报")


def test_negated_requirements_are_searched_in_reverse() -> None:
    # not(layoff_rate > 5%) is "at most 5%" written the other way round.
    tree = parse_condition({"not": {"field": "layoff_rate", "op": ">", "value": 0.05}})
    assert tree is not None
    leaves = list(tree.leaves())
    # The leaf is TRUE (layoffs above 5%), so the tree is false; the search looks for a
    # way to make the leaf not true, which lowering does not express on a '>' leaf.
    assert smallest_change(tree, leaves, [TRUE], FirmFigures({"layoff_rate": 0.08}))[0] == math.inf
    direct = parse_condition({"field": "layoff_rate", "op": "<=", "value": 0.05})
    assert direct is not None
    figures = FirmFigures({"layoff_rate": 0.08})
    cost, changes, _ = smallest_change(direct, [direct], [FALSE], figures)
    assert changes[0].text == "裁员率8%，降至5%"
    assert cost == pytest.approx(0.375)


def test_texts_for_each_kind_of_field() -> None:
    def text(field: str, op: str, value: float, **figs: Any) -> str:
        leaf = parse_condition({"field": field, "op": op, "value": value})
        est = figs.pop("established_on", None)
        change = leaf_change(leaf, FirmFigures(figs, est))  # type: ignore[arg-type]
        assert change is not None
        return change.text

    assert text("rd_expense", ">=", 1e6, rd_expense=8.9e5) == (
        "研发费用¥89万，达到¥100万（再投入约¥11万）"
    )
    assert text("invention_patents", ">", 1, invention_patents=1) == "有效发明专利1件，达到2件"
    assert text("rd_staff_ratio", ">=", 0.1, rd_staff_ratio=0.08, employees=100) == (
        "科技人员占比8%，达到10%（约再增加3名科技人员）"  # (10 - 8) / 0.9 = 2.2 → 3
    )
    assert text("age_years", ">=", 3, age_years=2, established_on=dt.date(2024, 2, 29)) == (
        "成立2年，满3年（2027-02-28起）"
    )
    assert text("unemployment_insurance_months", ">=", 12, unemployment_insurance_months=9) == (
        "连续缴纳失业保险9个月，满12个月（还需3个月）"
    )
    assert text("revenue", ">", 5e7, revenue=4.2e7) == (
        "营业收入¥4200万，超过¥5000万（再增加约¥800万）"
    )


@given(
    st.integers(50, 2000).map(lambda v: v * 1e5),  # revenue 500万 … 2亿
    st.integers(1, 59).map(lambda v: v / 1000),  # current R&D ratio 0.1% … 5.9%
    st.sampled_from([0.03, 0.04, 0.05, 0.06]),
)
def test_following_the_advice_qualifies(revenue: float, ratio: float, bound: float) -> None:
    """Spend what the sentence says (rounded up as written) and the firm becomes eligible."""
    if ratio >= bound:
        return
    tree = parse_condition({"field": "rd_ratio", "op": ">=", "value": bound})
    assert tree is not None
    firm = FirmFigures({"rd_ratio": ratio, "revenue": revenue})
    _, changes, _ = smallest_change(tree, [tree], [FALSE], firm)
    text = changes[0].text
    amount = text.split("再投入约¥")[1].rstrip("）")
    extra = float(amount.removesuffix("万").removesuffix("亿").replace(",", "")) * (
        1e4 if amount.endswith("万") else 1e8 if amount.endswith("亿") else 1
    )
    assert (ratio * revenue + extra) / revenue >= bound - 1e-12


def test_reasons_lists() -> None:
    tree = parse_condition({"all": [RD, HUNAN, PATENTS]})
    assert tree is not None
    leaves = list(tree.leaves())
    got = reasons(tree, leaves, [TRUE, TRUE, UNKNOWN, FALSE])
    assert got["met"] == ["研发投入占比不低于3%", "湖南省内注册"]
    assert got["unknown"] == ["发明专利2件以上"] and got["missing"] == ["invention_patents"]
    assert got["unmet"] == []
    eligible = reasons(tree, leaves, [TRUE, TRUE, FALSE, TRUE])
    assert eligible["met"] == ["研发投入占比不低于3%", "湖南省内注册", "实用新型专利8件以上"]


def test_near_misses_in_recommendations() -> None:
    policies = [
        Policy.from_json({
            "id": "robot-grant", "title": "工业机器人产业发展专项资金",
            "text": "一、支持对象\n从事工业机器人研发制造的企业。",
            "conditions": {"all": [RD, HUNAN]},
            "benefits": [{"kind": "grant", "amount": 1_000_000}],
        }),
        Policy.from_json({
            "id": "chip-grant", "title": "集成电路设计流片补助",
            "text": "一、支持对象\n集成电路设计企业。", "conditions": {"all": [HUNAN]},
            "benefits": [{"kind": "subsidy", "rate": 0.1, "base": "rd_expense", "cap": 500_000}],
        }),
        Policy.from_json({
            "id": "far", "title": "工业机器人首台套", "conditions": {"all": [
                {"field": "rd_ratio", "op": ">=", "value": 0.2, "source": "研发占比20%"}]},
        }),
    ]
    firms = profiles_frame([
        _firm(n=1, revenue=2e8, rd_expense=4.8e6),  # 2.4 %: a near miss of robot-grant
        _firm(n=2, revenue=2e8, rd_expense=8e6),  # 4 %: eligible
    ])
    m = PolicyMatcher(policies=policies, as_of=AS_OF, size_standard=size_standard(),
                      industry_names=industry_names()).fit()
    table = m.recommend(firms)
    first = table[table["uscc"] == firms["uscc"][0]]
    near = first[first["kind"] == "near_miss"]
    assert list(near["policy_id"]) == ["robot-grant"]  # 'far' needs a 733 % jump: not near
    why = near["why"].iloc[0]
    assert why["changes"] == ["研发投入占比2.4%，达到3%（再投入约¥120万）即可申报"]
    assert why["unmet"] == ["研发投入占比不低于3%"] and why["met"] == ["湖南省内注册"]
    assert "robot-grant" not in set(first[first["kind"] == "match"]["policy_id"])
    second = table[(table["uscc"] == firms["uscc"][1]) & (table["kind"] == "match")]
    assert list(second["policy_id"]) == ["robot-grant", "chip-grant"]  # relevance decides
    top = second.iloc[0]
    assert top["status"] == "eligible" and top["amount"] == 1_000_000
    assert "工业机器人" in top["why"]["terms"]
    assert second.iloc[1]["amount"] == 500_000  # 10 % of ¥800万, capped at ¥50万
