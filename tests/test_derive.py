"""Derived attributes, checked against hand-worked cases from DATA.md and the 2011 standard."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from matcher.derive import (
    above_scale,
    age_years,
    qualification_mask,
    rd_increase,
    rd_ratio,
    size_class,
)
from matcher.fields import QUALIFICATIONS
from profiles.reference import size_standard


def _age(founded: str | None, as_of: str) -> float:
    return float(age_years(pd.Series([founded], dtype="string"), dt.date.fromisoformat(as_of))[0])


@pytest.mark.parametrize(
    ("founded", "as_of", "years"),
    [
        ("2023-11-25", "2026-11-25", 3),  # 届满: the anniversary day counts
        ("2023-11-26", "2026-11-25", 2),
        ("2023-11-24", "2026-11-25", 3),
        ("2020-02-29", "2021-02-28", 1),  # no 29 Feb: the month's last day (民法典 202)
        ("2020-02-29", "2021-02-27", 0),
        ("2020-02-29", "2024-02-28", 3),  # leap year: 29 Feb exists
        ("2020-02-29", "2024-02-29", 4),
        ("2026-11-25", "2026-11-25", 0),
    ],
)
def test_age_years_counts_completed_years(founded: str, as_of: str, years: int) -> None:
    assert _age(founded, as_of) == years


def test_age_unknown_when_date_unknown_or_in_future() -> None:
    assert np.isnan(_age(None, "2026-11-25"))
    assert np.isnan(_age("2027-01-01", "2026-11-25"))


def test_rd_ratio_and_increase_unknown_not_zero() -> None:
    rd = pd.Series([300_000.0, np.nan, 100.0, 50.0])
    rev = pd.Series([10_000_000.0, 1e6, np.nan, 0.0])
    ratio = rd_ratio(rd, rev)
    assert ratio[0] == pytest.approx(0.03)
    assert ratio[1:].isna().all()
    inc = rd_increase(pd.Series([5e6, np.nan]), pd.Series([3e6, 1e6]))
    assert inc[0] == 2e6 and np.isnan(inc[1])


@pytest.mark.parametrize(
    ("industry", "employees", "revenue", "assets", "expected"),
    [
        ("C3491", 1000, 400_000_000, None, "large"),  # 工业: both bounds reached
        ("C3491", 1000, 399_999_999, None, "medium"),
        ("C3491", 300, 20_000_000, None, "medium"),  # 及以上 includes the bound
        ("C3491", 299, 400_000_000, None, "small"),
        ("C3491", 20, 3_000_000, None, "small"),
        ("C3491", 19, 3_000_000, None, "micro"),
        ("C", 50, 5_000_000, None, "small"),  # a bare section letter is enough for 工业
        ("F5211", 50, 5_000_000, None, "medium"),  # 零售业: 50人 and 500万
        ("F5124", 50, 10_000_000, None, "small"),  # 批发业 needs 5000万 for medium
        ("F5124", 50, 9_999_999, None, "micro"),  # and 1000万 for small
        ("A0111", None, 600_000, None, "small"),  # 农业 uses revenue only
        ("E4710", None, 70_000_000, 60_000_000, "medium"),  # 建筑业: revenue and assets
        ("K7010", None, 2_000_000_000, 100_000_000, "large"),  # 房地产开发经营 (K701)
        ("L7211", 300, None, 1_200_000_000, "large"),  # 租赁和商务服务业: employees and assets
        ("M7320", 150, None, None, "medium"),  # 其他未列明行业: employees only
        ("G5910", 20, 2_000_000, None, "small"),  # 装卸搬运 G591 is 交通运输业, not 仓储业
    ],
)
def test_size_class_follows_the_2011_standard(
    industry: str, employees: float | None, revenue: float | None, assets: float | None,
    expected: str,
) -> None:
    out = size_class(
        pd.Series([industry], dtype="string"),
        pd.Series([employees], dtype="float64"),
        pd.Series([revenue], dtype="float64"),
        pd.Series([assets], dtype="float64"),
        size_standard(),
    )
    assert out[0] == expected


@pytest.mark.parametrize(
    ("industry", "employees", "revenue", "assets"),
    [
        ("C3491", None, 20_000_000, None),  # 工业 uses employees
        ("E4710", None, 70_000_000, None),  # 建筑业 uses assets
        (None, 10, 1e6, 1e6),
        ("F", 10, 1e6, 1e6),  # 批发 or 零售: cannot tell the group
    ],
)
def test_size_class_unknown_when_an_input_is(
    industry: str | None, employees: float | None, revenue: float | None, assets: float | None
) -> None:
    out = size_class(
        pd.Series([industry], dtype="string"),
        pd.Series([employees], dtype="float64"),
        pd.Series([revenue], dtype="float64"),
        pd.Series([assets], dtype="float64"),
        size_standard(),
    )
    assert pd.isna(out[0])


@pytest.mark.parametrize(
    ("industry", "revenue", "expected"),
    [
        ("C3491", 20_000_000, True), ("C3491", 19_999_999, False), ("D4411", 2e7, True),
        ("F5124", 19_999_999, False), ("F5211", 5_000_000, True), ("H6210", 2_000_000, True),
        ("I6513", 9_999_999, False), ("I6513", 10_000_000, True),
        ("F", 30_000_000, True), ("F", 1_000_000, False), ("F", 10_000_000, None),
        ("C3491", None, None), (None, 1e9, None),
    ],
)
def test_above_scale(industry: str | None, revenue: float | None, expected: bool | None) -> None:
    out = above_scale(pd.Series([industry], dtype="string"), pd.Series([revenue], dtype="float64"))
    assert (pd.isna(out[0]) and expected is None) or out[0] == expected


def test_qualifications_count_only_when_valid_on_as_of() -> None:
    quals = pd.Series(
        [
            None,
            [],
            [{"name": "高新技术企业", "valid_from": "2024-01-01", "valid_until": "2026-11-25"}],
            [{"name": "高新技术企业", "valid_until": "2026-11-24"}, {"name": "瞪羚企业"}],
            [{"name": "专精特新中小企业", "valid_from": "2026-11-26"}],
        ],
        dtype=object,
    )
    mask = qualification_mask(quals, dt.date(2026, 11, 25))
    hi = 1 << QUALIFICATIONS.index("高新技术企业")
    gazelle = 1 << QUALIFICATIONS.index("瞪羚企业")
    assert list(mask) == [-1, 0, hi, gazelle, 0]
