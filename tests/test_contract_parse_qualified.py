"""Contract: a stated requirement is never dropped by ``parse`` (DATA.md §3).

经认定的高新技术企业 names a qualification; reading the clause as a means (经…, like
经审核) dropped it and made every firm look eligible. And a .docx whose heading sits
above labelled lines (发布机关：…) keeps that heading as its title.
"""

from __future__ import annotations

import json
from pathlib import Path

import docx
import pytest

from cli.main import main

HEAD = ("标题：测试政策\n发布机关：测试局\n日期：2026-01-01\n\n"
        "一、申报条件\n（一）在湘潭市注册；（二）{}。\n")


def _policy(path: Path, capsys: pytest.CaptureFixture) -> dict:
    assert main(["parse", str(path)]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])


@pytest.mark.parametrize(("clause", "qualification"), [
    ("经认定的高新技术企业", "高新技术企业"),
    ("经认定且在有效期内的省级以上绿色工厂", "绿色工厂"),
    ("经评定的专精特新中小企业", "专精特新中小企业"),
])
def test_certified_qualification_is_a_condition(
    tmp_path: Path, capsys: pytest.CaptureFixture, clause: str, qualification: str
) -> None:
    path = tmp_path / "p.txt"
    path.write_text(HEAD.format(clause), encoding="utf-8")
    leaves = _policy(path, capsys)["conditions"]["all"]
    assert {"field": "qualifications", "op": "has", "value": qualification,
            "source": qualification} in leaves


def test_docx_heading_above_labels_is_the_title(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    d = docx.Document()
    for line in ("关于开展2026年湘潭市绿色工厂奖补的通知", "发布机关：湘潭市工业和信息化局",
                 "日期：2026年3月1日", "一、申报条件", "在湘潭市注册的企业。"):
        d.add_paragraph(line)
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "纳税信用等级"
    table.rows[0].cells[1].text = "A级"
    path = tmp_path / "notice.docx"
    d.save(str(path))
    policy = _policy(path, capsys)
    assert policy["title"] == "关于开展2026年湘潭市绿色工厂奖补的通知"
    assert policy["issuer"] == "湘潭市工业和信息化局"
    assert policy["issued_on"] == "2026-03-01"
    assert {"field": "tax_credit_rating", "op": "==", "value": "A",
            "source": "纳税信用等级 A级"} in policy["conditions"]["all"]
