"""Contract: ``parse`` reads a web page's own labelled lines and table rows (DATA.md §2, §6).

A page that prints 发布机关：… / 发布日期：… as paragraphs under its heading has an
issuer and an issue date; a requirement laid out as a table row (从业人员 | 100人以上) is
one requirement, not two unmapped fragments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>站点</title>
<script>var x = "营业收入1亿元以上";</script></head><body>
<h1>关于印发支持制造业发展若干政策的通知</h1>
<p>发布机关：{issuer}</p><p>发布日期：2025年12月8日</p>
<h2>一、申报条件</h2>
<p>（一）在株洲市辖区内注册；</p>
<table><tr><td>从业人员</td><td>100人以上</td></tr>
<tr><th>上年度营业收入</th><td>2000万元以上</td></tr></table>
<h2>二、支持内容</h2><p>给予一次性奖励30万元。</p></body></html>"""


def _parse(tmp_path: Path, capsys: pytest.CaptureFixture, issuer: str) -> dict:
    path = tmp_path / "page.html"
    path.write_text(PAGE.format(issuer=issuer), encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])


@pytest.mark.parametrize("issuer", ["株洲市人民政府办公室", "湖南省工业和信息化厅"])
def test_labelled_paragraphs_are_the_header(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            issuer: str) -> None:
    policy = _parse(tmp_path, capsys, issuer)
    assert policy["title"] == "关于印发支持制造业发展若干政策的通知"
    assert policy["issuer"] == issuer
    assert policy["issued_on"] == "2025-12-08"


def test_table_rows_are_whole_requirements(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    policy = _parse(tmp_path, capsys, "株洲市人民政府办公室")
    leaves = [(x["field"], x["op"], x["value"], x["source"])
              for x in policy["conditions"]["all"]]
    assert ("employees", ">=", 100, "从业人员 100人以上") in leaves
    assert ("revenue", ">=", 20_000_000, "上年度营业收入 2000万元以上") in leaves
    assert not [x for x in leaves if x[0] == "unmapped"]
