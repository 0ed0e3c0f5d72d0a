"""Contract: a second bound whose metric is elided still bounds that metric (DATA.md §3).

营业收入超过500万元、不满2亿元 is ``revenue > 5e6`` and ``revenue < 2e8`` (超过 and 不满
exclude the number); 从业人员20人以上300人以下 is ``>= 20`` and ``<= 300``. Reading the
second half as an unmapped requirement sent every such policy to review.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from matcher.conditions import parse_condition
from tests import oracle

HEAD = "标题：测试政策\n发布机关：测试局\n日期：2026-01-01\n\n一、申报条件\n（一）{}。\n"


def _leaves(node: dict | None) -> list[dict]:
    if node is None:
        return []
    for key in ("all", "any"):
        if key in node:
            return [x for c in node[key] for x in _leaves(c)]
    if "not" in node:
        return _leaves(node["not"])
    return [node]


def _parse(tmp_path: Path, capsys: pytest.CaptureFixture, clause: str) -> list[tuple]:
    path = tmp_path / "p.txt"
    path.write_text(HEAD.format(clause), encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    policy = json.loads(capsys.readouterr().out.splitlines()[0])
    return [(x["field"], x["op"], x["value"]) for x in _leaves(policy["conditions"])]


@pytest.mark.parametrize(("clause", "expected"), [
    ("上年度营业收入超过500万元、不满2亿元",
     [("revenue", ">", 5_000_000), ("revenue", "<", 200_000_000)]),
    ("上年度营业收入不低于500万元且不高于2亿元",
     [("revenue", ">=", 5_000_000), ("revenue", "<=", 200_000_000)]),
    ("从业人员20人以上300人以下", [("employees", ">=", 20), ("employees", "<=", 300)]),
    ("成立满1年、不满5年", [("age_years", ">=", 1), ("age_years", "<", 5)]),
    ("上年度研发费用占营业收入比例不低于3%、不高于50%",
     [("rd_ratio", ">=", 0.03), ("rd_ratio", "<=", 0.5)]),
])
def test_elided_second_bound(tmp_path: Path, capsys: pytest.CaptureFixture, clause: str,
                             expected: list[tuple]) -> None:
    assert _parse(tmp_path, capsys, clause) == expected


def test_or_between_bounds_is_not_a_range(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """超过1亿元或不满500万元 is no interval: a firm with 2亿元 revenue must not fail it."""
    path = tmp_path / "p.txt"
    path.write_text(HEAD.format("上年度营业收入超过1亿元或不满500万元"), encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    policy = json.loads(capsys.readouterr().out.splitlines()[0])
    tree = parse_condition(policy["conditions"], policy["id"])
    assert oracle.evaluate({"revenue": 200_000_000.0}, tree) != oracle.F
    assert oracle.evaluate({"revenue": 1_000_000.0}, tree) != oracle.F


@pytest.mark.parametrize("clause", [
    "从业人员不超过100人或营业收入不满1000万元",
    "资产总额不超过5000万元或从业人员不足50人",
])
def test_or_after_a_negative_bound_word_is_still_or(
    tmp_path: Path, capsys: pytest.CaptureFixture, clause: str
) -> None:
    """不超过/不足 are bounds, not negations: A或B stays an alternative (any)."""
    path = tmp_path / "p.txt"
    path.write_text(HEAD.format(clause), encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    policy = json.loads(capsys.readouterr().out.splitlines()[0])
    assert "any" in policy["conditions"]
    tree = parse_condition(policy["conditions"], policy["id"])
    small_staff = {"employees": 10.0, "revenue": 90_000_000.0, "total_assets": 90_000_000.0}
    assert oracle.evaluate(small_staff, tree) == oracle.T
