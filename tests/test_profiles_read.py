"""Reading profiles: formats, Chinese headers and units, validation, bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.errors import PolicyMatchError
from profiles.headers import map_header
from profiles.read import profiles_frame, read_profiles
from profiles.uscc import make_uscc, org_code_check_digit, uscc_problem

GOOD = make_uscc("430111", "MA4L16T1")


def test_uscc_checks_both_check_digits() -> None:
    assert uscc_problem(GOOD) is None
    # Last digit wrong: stdnum's mod-31 check.
    bad_last = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")
    assert "invalid USCC" in (uscc_problem(bad_last) or "")
    # Organisation-code digit wrong but the final digit recomputed: only GB 11714 catches it.
    from stdnum.cn.uscc import calc_check_digit

    wrong = GOOD[:16] + ("1" if GOOD[16] != "1" else "2")
    wrong = wrong + calc_check_digit(wrong)
    assert "organisation-code" in (uscc_problem(wrong) or "")
    assert "18 characters" in (uscc_problem("123") or "")


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))
def test_make_uscc_always_validates(body: str) -> None:
    assert uscc_problem(make_uscc("430111", body)) is None
    assert org_code_check_digit(body) in "0123456789X"


def test_real_uscc_passes_both_checks() -> None:
    # A real code (python-stdnum's documentation): organisation code 60003734-1.
    assert org_code_check_digit("60003734") == "1"
    assert uscc_problem("91110000600037341L") is None


@pytest.mark.parametrize(
    ("header", "field", "factor"),
    [
        ("统一社会信用代码", "uscc", 1), ("营业收入(万元)", "revenue", 1e4),
        ("营业收入（亿元）", "revenue", 1e8), ("资产总额(元)", "total_assets", 1),
        ("研发人员占比(%)", "rd_staff_ratio", 0.01), ("revenue", "revenue", 1),
        ("从业人数", "employees", 1), ("不相关的列", None, 1),
    ],
)
def test_map_header(header: str, field: str | None, factor: float) -> None:
    assert map_header(header) == (field, factor)


def test_unknown_unit_refuses_the_file(tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    p.write_text("统一社会信用代码,企业名称,营业收入(美元)\n", encoding="utf-8")
    with pytest.raises(PolicyMatchError, match="unknown unit"):
        read_profiles(p)


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_bad_records_are_reported_and_skipped(tmp_path: Path) -> None:
    ok = {"uscc": GOOD, "name": "长沙甲公司", "region_code": "430111", "revenue": 12.5e6}
    lines = [
        json.dumps(ok, ensure_ascii=False),
        "{broken",
        json.dumps({"uscc": GOOD[:-1] + "0", "name": "乙"}, ensure_ascii=False),
        json.dumps({"uscc": make_uscc("430111", "MA000002"), "name": "丙",
                    "region_code": "439999"}, ensure_ascii=False),
        json.dumps({"uscc": make_uscc("430111", "MA000003"), "name": "丁",
                    "revenue": "很多"}, ensure_ascii=False),
        json.dumps({"uscc": make_uscc("430111", "MA000004"), "name": "戊",
                    "rd_staff_ratio": 30}, ensure_ascii=False),
        json.dumps(ok, ensure_ascii=False),
    ]
    report = read_profiles(_write_jsonl(tmp_path / "firms.jsonl", lines))
    assert [r["uscc"] for r in report.records] == [GOOD]
    errs = [(e.where, e.field) for e in report.errors]
    assert errs == [
        ("firms.jsonl:2", None), ("firms.jsonl:3", "uscc"), ("firms.jsonl:4", "region_code"),
        ("firms.jsonl:5", "revenue"), ("firms.jsonl:6", "rd_staff_ratio"),
        ("firms.jsonl:7", "uscc"),
    ]
    assert "duplicate" in str(report.errors[-1])
    assert "fraction" in str(report.errors[4])


def test_absent_is_unknown_never_zero(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path / "f.jsonl", [json.dumps({"uscc": GOOD, "name": "甲",
                                                        "listed": None, "revenue": None})])
    frame = profiles_frame(read_profiles(p).records)
    assert frame["revenue"].isna().all() and frame["employees"].isna().all()
    assert frame["listed"].isna().all()
    assert frame["qualifications"].iloc[0] is None


def test_csv_with_chinese_headers_converts_units(tmp_path: Path) -> None:
    p = tmp_path / "firms.csv"
    df = pd.DataFrame({
        "统一社会信用代码": [GOOD, make_uscc("430211", "MA000009")],
        "企业名称": ["长沙甲公司", "株洲乙公司"],
        "注册地区划代码": ["430111", "430211"],
        "行业代码": ["C3491", "F5211"],
        "成立日期": ["2020/5/6", "2019-01-01"],
        "从业人数": ["120", ""],
        "营业收入(万元)": ["2,500", "80.5"],
        "资产总额(亿元)": ["1.2", ""],
        "研发费用(万元)": ["150", ""],
        "研发人员占比(%)": ["12.5", ""],
        "资质": ["高企;专精特新", ""],
        "是否上市": ["否", "是"],
    })
    df.to_csv(p, index=False, encoding="utf-8-sig")
    report = read_profiles(p)
    assert not report.errors, report.errors
    a, b = report.records
    assert a["revenue"] == pytest.approx(25_000_000)
    assert a["total_assets"] == pytest.approx(120_000_000)
    assert a["rd_expense"] == pytest.approx(1_500_000)
    assert a["rd_staff_ratio"] == pytest.approx(0.125)
    assert a["established_on"] == "2020-05-06"
    assert a["employees"] == 120
    assert [q["name"] for q in a["qualifications"]] == ["高新技术企业", "专精特新中小企业"]
    assert a["listed"] is False and b["listed"] is True
    assert "employees" not in b and "total_assets" not in b
    assert b["revenue"] == pytest.approx(805_000)


def test_xlsx_reads_like_csv(tmp_path: Path) -> None:
    p = tmp_path / "firms.xlsx"
    pd.DataFrame({
        "统一社会信用代码": [GOOD, "bad"],
        "企业名称": ["长沙甲公司", "坏记录"],
        "营业收入(万元)": ["2500", "1"],
    }).to_excel(p, index=False)
    report = read_profiles(p)
    assert [r["revenue"] for r in report.records] == [25_000_000]
    assert [(e.where, e.field) for e in report.errors] == [("firms.xlsx:3", "uscc")]


def test_unreadable_file_refuses(tmp_path: Path) -> None:
    with pytest.raises(PolicyMatchError, match="no such file"):
        read_profiles(tmp_path / "missing.jsonl")
    p = tmp_path / "x.parquetx"
    p.write_text("x")
    with pytest.raises(PolicyMatchError, match="unsupported"):
        read_profiles(p)
    q = tmp_path / "bin.jsonl"
    q.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(PolicyMatchError, match="cannot read"):
        read_profiles(q)


def test_unknown_qualification_is_a_warning_not_a_skip(tmp_path: Path) -> None:
    p = _write_jsonl(tmp_path / "f.jsonl", [json.dumps(
        {"uscc": GOOD, "name": "甲", "qualifications": [{"name": "某某示范企业"}, "小巨人"]},
        ensure_ascii=False)])
    report = read_profiles(p)
    assert report.records[0]["qualifications"] == [{"name": "专精特新小巨人企业"}]
    assert report.warnings and report.warnings[0].field == "qualifications[0].name"
