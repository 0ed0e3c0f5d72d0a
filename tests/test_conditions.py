"""Condition trees and policies: what the parser of JSON trees accepts and how it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.conditions import AllOf, Criterion, parse_condition
from matcher.errors import ConditionError
from matcher.policy import Policy


@pytest.mark.parametrize(
    ("tree", "path", "words"),
    [
        ({"all": [{"field": "revenue", "op": ">=", "value": 1},
                  {"field": "revenue", "op": ">=", "value": 1},
                  {"field": "revenue", "op": "≥", "value": 1}]}, "conditions.all[2].op",
         "unknown operator"),
        ({"any": [{"field": "turnover", "op": ">=", "value": 1}]}, "conditions.any[0].field",
         "unknown field"),
        ({"not": {"field": "region_code", "op": ">=", "value": "43"}}, "conditions.not.op",
         "does not apply"),
        ({"field": "revenue", "op": ">=", "value": "2000万"}, "conditions.value", "numbers"),
        ({"field": "revenue", "op": ">=", "value": True}, "conditions.value", "numbers"),
        ({"field": "region_code", "op": "in", "value": "43"}, "conditions.value", "list"),
        ({"field": "region_code", "op": "in", "value": ["湖南"]}, "conditions.value", "GB/T 2260"),
        ({"field": "qualifications", "op": "has", "value": "高企"}, "conditions.value",
         "unknown qualification"),
        ({"field": "size_class", "op": "==", "value": "tiny"}, "conditions.value", "micro"),
        ({"all": []}, "conditions.all", "non-empty"),
        ({"all": [], "any": []}, "conditions", "one of"),
        ([1, 2], "conditions", "object"),
    ],
)
def test_bad_trees_name_the_path(tree: Any, path: str, words: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(tree, "p1")
    assert info.value.path == path
    assert words in info.value.message
    assert str(info.value).startswith("policy 'p1' ")


def test_none_means_no_conditions_and_leaves_keep_source() -> None:
    assert parse_condition(None) is None
    node = parse_condition({"all": [
        {"field": "unmapped", "op": "review", "value": None, "source": "已建立研发准备金制度"},
        {"field": "industry_code", "op": "in", "value": ["C", "I65"], "source": "制造业或软件业"},
    ]})
    assert isinstance(node, AllOf)
    assert node.children[0] == Criterion("unmapped", "review", None, "已建立研发准备金制度")
    assert [leaf.source for leaf in node.leaves()] == ["已建立研发准备金制度", "制造业或软件业"]


def test_policy_round_trip_keeps_extensions() -> None:
    obj = {
        "id": "p1", "title": "研发奖补", "issuer": "湖南省科技厅", "issued_on": "2024-01-02",
        "valid_from": "2024-01-01", "valid_until": "2026-12-31", "mode": "no_application",
        "conditions": {"field": "rd_increase", "op": ">", "value": 0, "source": "新增研发投入"},
        "preferences": [{"field": "qualifications", "op": "has", "value": "高新技术企业",
                         "source": "优先支持高新技术企业"}],
        "benefits": [{"kind": "subsidy", "rate": 0.1, "base": "rd_increase", "cap": 5_000_000,
                      "source": "按10%补助，最高500万元", "note": "tier"}],
        "text": "……", "source_url": "http://example.gov.cn/x", "note": "reviewer note",
    }
    policy = Policy.from_json(obj)
    assert policy.to_json() == obj
    assert Policy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"mode": "automatic"}, "mode"),
        ({"valid_until": "2026-13-01"}, "valid_until"),
        ({"benefits": [{"kind": "cash", "amount": 1}]}, "benefits[0].kind"),
        ({"benefits": [{"kind": "grant", "amount": -5}]}, "benefits[0].amount"),
        ({"benefits": [{"kind": "subsidy", "rate": 0.1, "base": "turnover"}]}, "benefits[0].base"),
        ({"preferences": [{"field": "x", "op": "==", "value": 1}]}, "preferences[0].field"),
    ],
)
def test_bad_policy_fields_name_the_path(patch: dict[str, Any], path: str) -> None:
    with pytest.raises(ConditionError) as info:
        Policy.from_json({"id": "p2", **patch})
    assert info.value.path == path and info.value.policy_id == "p2"
