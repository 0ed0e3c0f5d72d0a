"""Contract: spreadsheet numbers are converted by the header's unit exactly (DATA.md §1).

``57`` under 研发人员占比(%) is 0.57, not 0.5700000000000001 (which fails 不高于57%),
0.07 亿元 is 7,000,000 yuan, and a value carrying its own ``%`` is not scaled twice.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.errors import RecordError
from profiles.read import parse_number, read_profiles
from profiles.uscc import make_uscc


@given(st.integers(min_value=0, max_value=100))
def test_whole_percent_is_the_exact_fraction(n: int) -> None:
    expected = float(Decimal(n) / 100)
    assert parse_number(str(n), "rd_staff_ratio", 0.01, "f.csv:2") == expected
    assert parse_number(f"{n}%", "rd_staff_ratio", 1.0, "f.csv:2") == expected


@given(st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False))
def test_wan_yuan_is_exact_to_the_written_decimals(d: Decimal) -> None:
    expected = float(d * 10000)
    assert parse_number(str(d), "revenue", 1e4, "f.csv:2") == expected
    assert parse_number(float(d), "revenue", 1e4, "f.csv:2") == float(
        Decimal(repr(float(d))) * 10000)


def test_own_percent_sign_is_not_scaled_by_the_header_again() -> None:
    assert parse_number("25%", "rd_staff_ratio", 0.01, "f.csv:2") == 0.25
    assert parse_number("25", "rd_staff_ratio", 0.01, "f.csv:2") == 0.25


def test_percent_of_money_is_refused_with_record_and_field() -> None:
    with pytest.raises(RecordError, match=r"f\.csv:3.*revenue"):
        parse_number("5%", "revenue", 1e4, "f.csv:3")


def test_csv_with_chinese_headers_and_units(tmp_path: Path) -> None:
    u = make_uscc("430111", "MA8T0001")
    path = tmp_path / "firms.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["统一社会信用代码", "企业名称", "营业收入（亿元）", "研发人员占比(%)",
                    "高新技术产品收入占比", "资产总额(万元)"])
        w.writerow([u, "长沙测试有限公司", "0.07", "57", "60%", "1,234.56"])
    report = read_profiles(path)
    assert not report.errors
    rec = report.records[0]
    assert rec["revenue"] == 7_000_000
    assert rec["rd_staff_ratio"] == 0.57
    assert rec["high_tech_revenue_ratio"] == 0.6
    assert rec["total_assets"] == 12_345_600
