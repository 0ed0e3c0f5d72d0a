"""Reading policy documents: .txt (UTF-8, GB18030), .html (body, not menus), .docx, .pdf,
and bad input — empty, binary, a PDF without a text layer, unknown formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.parse.documents import DocumentError, read_document
from policies.parse.parser import PolicyParser
from tests._parse_support import EXTRA, pdf_with_text, pdf_without_text

RULE = (
    "一、申报条件\n企业上年度营业收入2000万元以上，成立不满3年。\n"
    "二、支持标准\n给予一次性奖励50万元。\n"
)


def _leaves(node):
    if node is None:
        return []
    if "field" in node:
        return [node]
    return [lf for k in ("all", "any") for c in node.get(k, []) for lf in _leaves(c)]


def _check_rule(policy: dict) -> None:
    got = {(lf["field"], lf["op"], lf["value"]) for lf in _leaves(policy["conditions"])}
    assert ("revenue", ">=", 20_000_000) in got
    assert ("age_years", "<", 3) in got
    assert {"kind": "grant", "amount": 500000} == {
        k: policy["benefits"][0][k] for k in ("kind", "amount")
    }


def test_txt_utf8_and_gb18030(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text(RULE, encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_bytes(RULE.encode("gb18030"))
    c = tmp_path / "c.txt"
    c.write_bytes(b"\xef\xbb\xbf" + RULE.replace("\n", "\r\n").encode("utf-8"))
    for p in (a, b, c):
        assert read_document(p) == RULE
        _check_rule(PolicyParser().parse_file(p))


def test_html_body_without_menus() -> None:
    text = read_document(EXTRA / "ex03_zhuzhou_zjtx_jiangli.html")
    assert "首页" not in text and "版权所有" not in text and "当前位置" not in text
    assert text.startswith(
        "标题：株洲市专精特新企业梯度培育奖励政策解读\n发布机关：株洲市工业和信息化局\n日期：2024-03-08"
    )
    assert "一次性奖励100万元" in text
    policy = PolicyParser().parse_file(EXTRA / "ex03_zhuzhou_zjtx_jiangli.html")
    assert policy["id"] == "ex03_zhuzhou_zjtx_jiangli"
    assert policy["issued_on"] == "2024-03-08"


def test_html_without_meta(tmp_path: Path) -> None:
    page = tmp_path / "p.htm"
    page.write_text(
        "<html><body><ul class='menu'><li><a href='/'>首页</a></li><li><a>政务公开</a></li></ul>"
        "<div class='article'>" + "".join(f"<p>{ln}</p>" for ln in RULE.splitlines()) + "</div>"
        "<div id='footer'>网站地图 联系我们</div></body></html>",
        encoding="utf-8",
    )
    text = read_document(page)
    assert "首页" not in text and "网站地图" not in text
    _check_rule(PolicyParser().parse_file(page))


def test_docx_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("一、申报条件")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "条件1"
    table.rows[0].cells[1].text = "企业上年度营业收入2000万元以上，成立不满3年。"
    d.add_paragraph("二、支持标准")
    d.add_paragraph("给予一次性奖励50万元。")
    path = tmp_path / "policy.docx"
    d.save(str(path))
    text = read_document(path)
    assert "营业收入2000万元以上" in text
    _check_rule(PolicyParser().parse_file(path))


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "policy.pdf"
    path.write_bytes(pdf_with_text(RULE.splitlines()))
    _check_rule(PolicyParser().parse_file(path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n ", "empty file"),
        ("binary.txt", bytes(range(256)) * 4, "binary"),
        ("scan.pdf", None, "no text layer"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "not a readable .docx"),
        ("policy.xls", b"\xd0\xcf\x11\xe0", "unsupported format"),
    ],
)
def test_bad_input_names_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(pdf_without_text() if content is None else content)
    with pytest.raises(DocumentError) as err:
        read_document(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read"):
        read_document(tmp_path / "nope.txt")
