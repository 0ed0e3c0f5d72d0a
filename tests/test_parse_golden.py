"""Golden files: the parser's output on every shared corpus text and the extra texts.

Three kinds of check, from strict to tolerant:

- the output equals its snapshot in ``tests/golden/`` (any change of behaviour shows up
  in review; run with ``UPDATE_GOLDEN=1`` to rewrite the snapshots after checking them);
- every key leaf of the hand-made gold (field, operator, value of each mapped leaf) is in
  the output, and a few trees have the shape the text means (tiers, alternatives);
- corpus-level accuracy: leaf F1 ≥ 0.90 and mode accuracy 100 % (the issue's target).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from matcher.policy import Policy
from policies.parse.evaluate import evaluate, leaves_match
from policies.parse.parser import PolicyParser
from tests._parse_support import EXTRA, GOLDEN, corpus_dir, leaves, load_gold

PARSER = PolicyParser()
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))

CORPUS = corpus_dir()
SHARED_GOLD = load_gold(CORPUS / "gold.jsonl")
EXTRA_GOLD = load_gold(EXTRA / "gold.jsonl")


def _text_path(folder: Path, pid: str) -> Path:
    return next(p for p in folder.iterdir() if p.stem == pid and p.suffix != ".json")


def _parsed(folder: Path, pid: str) -> dict[str, Any]:
    return PARSER.parse_file(_text_path(folder, pid))


def _check_snapshot(policy: dict[str, Any], snap: Path) -> None:
    out = {k: v for k, v in policy.items() if k != "text"}
    if UPDATE or not snap.exists():
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {snap.name} was missing and has been written; check it in")
    assert out == json.loads(snap.read_text(encoding="utf-8"))


@pytest.mark.parametrize("gold", SHARED_GOLD, ids=lambda g: g["id"])
def test_shared_corpus_snapshot(gold: dict[str, Any]) -> None:
    policy = _parsed(CORPUS / "policies", gold["id"])
    _check_snapshot(policy, GOLDEN / "shared" / f"{gold['id']}.json")


@pytest.mark.parametrize("gold", EXTRA_GOLD, ids=lambda g: g["id"])
def test_extra_snapshot(gold: dict[str, Any]) -> None:
    policy = _parsed(EXTRA, gold["id"])
    _check_snapshot(policy, EXTRA / f"{gold['id']}.expected.json")


@pytest.mark.parametrize("gold", SHARED_GOLD + EXTRA_GOLD, ids=lambda g: g["id"])
def test_key_leaves_and_contract(gold: dict[str, Any]) -> None:
    folder = EXTRA if gold["id"].startswith("ex") else CORPUS / "policies"
    policy = _parsed(folder, gold["id"])
    Policy.from_json(policy)  # the contract accepts it
    text = policy["text"]
    got = leaves(policy["conditions"])
    for leaf in got:
        assert leaf["source"] and leaf["source"] in text, leaf
    for key in (g for g in leaves(gold["conditions"]) if g["field"] != "unmapped"):
        assert any(leaves_match(p, key) for p in got), f"missing {key}"
    assert policy["mode"] == gold["mode"]
    assert policy["id"] == gold["id"]
    for b in policy["benefits"]:
        assert b["source"] in text


def test_corpus_accuracy_target() -> None:
    predicted = {g["id"]: _parsed(CORPUS / "policies", g["id"]) for g in SHARED_GOLD}
    report = evaluate(predicted, SHARED_GOLD)
    assert report.leaves.f1 >= 0.90, report.to_json()
    assert report.mode_accuracy == 1.0


def test_extra_accuracy() -> None:
    predicted = {g["id"]: _parsed(EXTRA, g["id"]) for g in EXTRA_GOLD}
    report = evaluate(predicted, EXTRA_GOLD)
    assert report.leaves.f1 >= 0.90, report.to_json()
    assert report.mode_accuracy == 1.0


def _find(node: Any, pred: Any) -> Any:
    if node is None or "field" in node:
        return None
    if pred(node):
        return node
    for k in ("all", "any"):
        for c in node.get(k, []):
            hit = _find(c, pred)
            if hit is not None:
                return hit
    return None


def _fields(node: Any) -> set[str]:
    return {lf["field"] for lf in leaves(node)}


def test_tiers_are_any_of_all() -> None:
    """高企 R&D ratio by revenue band: any of three (revenue band ∧ rd_ratio) tiers."""
    cond = _parsed(CORPUS / "policies", "cn01_gaoqi_rending_tiaojian")["conditions"]
    tiers = _find(cond, lambda n: "any" in n and all("all" in c for c in n["any"]))
    assert tiers is not None and len(tiers["any"]) == 3
    for tier in tiers["any"]:
        assert _fields(tier) == {"revenue", "rd_ratio"}
    middle = leaves(tiers["any"][1])
    assert {(lf["op"], lf["value"]) for lf in middle if lf["field"] == "revenue"} == {
        (">", 50_000_000),
        ("<=", 200_000_000),
    }


def test_relaxed_layoff_rule_is_an_alternative() -> None:
    for folder, pid in (
        (CORPUS / "policies", "hn10_hunan_wengang_fanhuan_mianshenjixiang_2024"),
        (CORPUS / "policies", "ot05_hubei_zhongxiang_wengang_fanhuan_2022"),
        (EXTRA, "ex06_hengyang_wengang_mianshen"),
    ):
        cond = _parsed(folder, pid)["conditions"]
        alt = _find(cond, lambda n: "any" in n and "layoff_rate" in _fields(n))
        assert alt is not None, pid
        assert _fields(alt) == {"layoff_rate", "employees"}


def test_compilation_by_city_factors_the_common_target() -> None:
    cond = _parsed(CORPUS / "policies", "hn07_hunan_cities_gaoqi_jiangli_2024")["conditions"]
    assert "all" in cond
    regions = _find(cond, lambda n: "any" in n and _fields(n) == {"region_code"})
    assert regions is not None and len(regions["any"]) == 5
    assert sum(lf["field"] == "qualifications" for lf in leaves(cond)) == 1


def test_applicant_groups_are_alternatives() -> None:
    cond = _parsed(CORPUS / "policies", "hn01_gxt_2023_78_xiaojuren_tuijian")["conditions"]
    groups = _find(cond, lambda n: "any" in n and "qualifications" in _fields(n))
    assert groups is not None and len(groups["any"]) == 2


def test_classification_standard_has_no_conditions() -> None:
    policy = _parsed(CORPUS / "policies", "cn10_zhongxiao_qiye_huaxing_biaozhun_2011")
    assert policy["conditions"] is None
    assert policy["benefits"] == []


def test_either_patent_kind_is_an_alternative() -> None:
    cond = _parsed(EXTRA, "ex07_wuhan_dengling_rending")["conditions"]
    alt = _find(cond, lambda n: "any" in n)
    assert alt is not None and _fields(alt) == {"invention_patents", "software_copyrights"}
