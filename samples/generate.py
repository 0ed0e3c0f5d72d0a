"""Write the bundled synthetic firms: ``firms.jsonl``, ``firms_zh.csv``, ``firms_bad.jsonl``.

Run ``python -m samples.generate [OUT_DIR]``. The output is a pure function of the seed,
byte for byte, so the committed files can be checked by regenerating them (the test suite
does). The data are synthetic: no firm is real, though names, codes and magnitudes are
meant to look like what a Hunan provincial data platform hands over — valid 统一社会信用代码,
real county codes (GB/T 2260) and industry classes (GB/T 4754-2017), lognormal sizes that
make most firms micro or small, and about 15 % of the records with gaps (absent means
unknown, DATA.md §1), so that policies meet the ``undetermined`` case.

All dates are set relative to ``REFERENCE_DATE``, the ``as_of`` the demo uses; "last year"
figures are for the year before it. Twelve showcase firms (``samples.archetypes``) are
placed among the random ones so that every sample policy has a target.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from matcher.fields import PROFILE_FIELDS
from profiles.reference import industry_names
from profiles.uscc import make_uscc
from samples.archetypes import ARCHETYPES, Archetype
from samples.regions import County, hunan_counties
from samples.sectors import PRESETS, Activity, Preset, activity_groups

SEED = 20261126
N_FIRMS = 300
N_CSV = 50
REFERENCE_DATE = dt.date(2026, 11, 26)
OUT_DIR = Path(__file__).resolve().parent

# Share of records with gaps, and which fields a real platform most often lacks
# (financial figures from a late annual report, insurance data from another bureau …).
INCOMPLETE_SHARE = 0.17
_MISSABLE: dict[str, float] = {
    "employees": 2.0,
    "revenue": 2.0,
    "total_assets": 2.0,
    "rd_expense": 2.0,
    "rd_expense_prev": 2.0,
    "unemployment_insurance_months": 2.0,
    "layoff_rate": 2.0,
    "tax_credit_rating": 1.5,
    "qualifications": 1.5,
    "established_on": 0.7,
    "rd_staff_ratio": 1.0,
    "high_tech_revenue_ratio": 1.0,
    "invention_patents": 1.0,
    "export_value": 1.0,
    "tax_paid": 0.7,
    "registered_capital": 0.5,
    "major_accident_3y": 0.7,
    "serious_dishonesty": 0.5,
    "business_scope": 0.5,
    "products": 0.7,
}

_BRAND_CHARS = (
    "华湘天宏联科博恒鑫瑞中新远达楚麓星晟创嘉盛泰安和信德昌隆富源佳航拓智鼎汇融凯明正卓越辰海洲云峰"
)
TECH_TILT = {"4301": 1.8, "4302": 1.3, "4303": 1.3}
_USCC_ALNUM = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CAPITAL_LADDER = (
    100_000,
    300_000,
    500_000,
    1_000_000,
    2_000_000,
    3_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
)
_OWNERSHIP = (("民营企业", 0.93), ("国有控股", 0.04), ("港澳台投资", 0.015), ("外商投资", 0.015))
_TAX_RATINGS = (("A", 0.13), ("B", 0.64), ("M", 0.12), ("C", 0.08), ("D", 0.03))


def _round100(x: float) -> int:
    """Money to whole hundreds of yuan: the precision of a 万元 figure with two decimals."""
    return int(round(x / 100.0)) * 100


def _ratio(x: float) -> float:
    return round(min(max(x, 0.0), 1.0), 4)


def _pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    p = np.array([w for _, w in options])
    return options[int(rng.choice(len(options), p=p / p.sum()))][0]


def _quota(p: np.ndarray, n: int) -> np.ndarray:
    """Counts for ``n`` draws with shares ``p`` (largest remainders).

    Quota sampling instead of independent draws keeps the sector and regional mix of a
    few hundred firms on the published shares instead of a few points off by chance.
    """
    exact = p / p.sum() * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return counts


def _days(d: dt.date, n: int) -> str:
    return (d + dt.timedelta(days=n)).isoformat()


# 认定 → (level, month, first day, days of spread, validity): years, "year" (until 31
# December of the year of recognition: 科技型中小企业 入库 and 上市后备 lists are renewed
# yearly) or None (no expiry stated: 企业技术中心, 绿色工厂 …).
QUALIFICATION_RULES: dict[str, tuple[str, int, int, int, int | str | None]] = {
    "高新技术企业": ("national", 12, 1, 20, 3),
    "科技型中小企业": ("national", 4, 1, 28, "year"),
    "专精特新中小企业": ("provincial", 10, 10, 15, 3),
    "专精特新小巨人企业": ("national", 7, 15, 1, 3),
    "创新型中小企业": ("provincial", 6, 20, 1, 3),
    "企业技术中心": ("provincial", 11, 30, 1, None),
    "绿色工厂": ("provincial", 12, 28, 1, None),
    "智能制造示范工厂": ("provincial", 9, 5, 1, None),
    "上市后备企业": ("provincial", 1, 15, 1, "year"),
    "瞪羚企业": ("city", 8, 1, 1, 2),
    "技术先进型服务企业": ("provincial", 12, 10, 1, 3),
}


def qualification(name: str, year: int, rng: np.random.Generator) -> dict[str, Any]:
    """One 认定 recognised in ``year``, with the validity window its scheme gives."""
    level, month, day, spread, validity = QUALIFICATION_RULES[name]
    start = dt.date(year, month, day + (int(rng.integers(spread)) if spread > 1 else 0))
    q: dict[str, Any] = {"name": name, "level": level, "valid_from": start.isoformat()}
    if validity == "year":
        q["valid_until"] = dt.date(year, 12, 31).isoformat()
    elif isinstance(validity, int):
        q["valid_until"] = _days(start.replace(year=year + validity), -1)
    return q


class FirmFactory:
    """Draws firms one after another from one seeded generator (order matters)."""

    def __init__(self, n: int, seed: int = SEED) -> None:
        self.rng = np.random.default_rng(seed)
        self.counties = hunan_counties()
        self.county_p = np.array([c.weight for c in self.counties])
        self.county_p /= self.county_p.sum()
        self.prefectures = sorted({c.code[:4] for c in self.counties})
        pref_p = np.array(
            [
                self.county_p[[c.code[:4] == pc for c in self.counties]].sum()
                for pc in self.prefectures
            ]
        )
        self.pref_left = _quota(pref_p, n)
        self.activities = activity_groups()
        self.activity_p = np.array([w for w, _, _ in self.activities])
        self.activity_p /= self.activity_p.sum()
        self.queue = [
            int(i)
            for i in self.rng.permutation(
                np.repeat(np.arange(len(self.activity_p)), _quota(self.activity_p, n))
            )
        ]
        known = industry_names()
        bad = [a.code for _, _, a in self.activities if a.code not in known]
        if bad:
            raise ValueError(f"not GB/T 4754-2017 classes: {bad}")
        self.names: set[str] = set()

    def _county(self, tech: bool) -> County:
        """A county, drawing its prefecture from the remaining quota (an urn).

        Technology firms draw with extra weight on the 长株潭 corridor (长沙 alone holds
        ~30 % of Hunan's 专精特新中小企业, enterprise_stats.md); the urn keeps each
        prefecture's total on its share all the same.
        """
        rng = self.rng
        w = self.pref_left * np.array(
            [TECH_TILT.get(pc, 1.0) if tech else 1.0 for pc in self.prefectures]
        )
        k = int(rng.choice(len(w), p=w / w.sum()))
        self.pref_left[k] -= 1
        inside = [i for i, c in enumerate(self.counties) if c.code[:4] == self.prefectures[k]]
        cp = self.county_p[inside] / self.county_p[inside].sum()
        return self.counties[inside[int(rng.choice(len(inside), p=cp))]]

    # --- pieces ---------------------------------------------------------------------

    def _name(self, county: County, act: Activity, big: bool) -> str:
        rng = self.rng
        for _ in range(100):
            u = rng.random()
            prefix = (
                county.short
                if county.short and u < 0.25
                else "湖南"
                if u > 0.85
                else county.prefecture
            )
            i, j = rng.choice(len(_BRAND_CHARS), size=2, replace=False)
            brand = _BRAND_CHARS[i] + _BRAND_CHARS[j]
            word = act.words[int(rng.integers(len(act.words)))]
            v = rng.random()
            suffix = (
                "股份有限公司" if big and v < 0.5 else "有限责任公司" if v > 0.9 else "有限公司"
            )
            name = f"{prefix}{brand}{word}{suffix}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("could not draw a unique firm name")

    def _uscc(self, county: County, established: dt.date) -> str:
        rng = self.rng
        if established.year >= 2016:  # 统一代码 era: organisation bodies MA4…
            body = (
                "MA4"
                + "LMNPQRT"[int(rng.integers(7))]
                + "".join(_USCC_ALNUM[int(k)] for k in rng.integers(len(_USCC_ALNUM), size=4))
            )
        else:  # converted from an old 组织机构代码 (digits)
            body = str(int(rng.integers(5, 8))) + "".join(
                str(int(k)) for k in rng.integers(10, size=7)
            )
        region = county.code if rng.random() < 0.7 else county.code[:4] + "00"
        return make_uscc(region, body)

    def _qualifications(
        self, f: dict[str, Any], preset: Preset, act: Activity, age: float
    ) -> list[dict[str, Any]]:
        """认定 drawn from the firm's profile, with windows around REFERENCE_DATE (some expired)."""
        rng = self.rng
        y = REFERENCE_DATE.year
        out: list[dict[str, Any]] = []
        tech = preset.rd in ("tech", "some") and act.code[0] in "CIM"
        rev, emp = f["revenue"], f["employees"]
        rd, rd_ratio = f["rd_expense"], f["rd_expense"] / max(f["revenue"], 1)
        staff = f["rd_staff_ratio"]
        ip = f["invention_patents"] + f["utility_patents"] / 4 + f["software_copyrights"] / 5
        mfg = act.code[0] == "C"

        def add(name: str, year: int) -> None:
            out.append(qualification(name, year, rng))

        if tech and rd_ratio >= 0.02 and staff >= 0.05 and emp < 500 and rng.random() < 0.5:
            add("科技型中小企业", y if rng.random() < 0.85 else y - 1)  # some not renewed
        if (
            tech
            and age >= 2
            and (rng.random() < (0.2 if rd_ratio >= 0.03 and staff >= 0.1 and ip >= 1 else 0.02))
        ):
            add(
                "高新技术企业",
                int(rng.choice([y - 4, y - 3, y - 2, y - 1], p=[0.2, 0.3, 0.25, 0.25])),
            )
        if tech and rd >= 500_000 and rd_ratio >= 0.025 and rng.random() < 0.4:
            # recognised in October, valid three years: the 2022 and 2023 batches have lapsed
            year = int(rng.choice([y - 4, y - 3, y - 2, y - 1, y], p=[0.1, 0.15, 0.25, 0.25, 0.25]))
            add("专精特新中小企业", year)
            if mfg and rev >= 30_000_000 and rng.random() < 0.3:
                add("专精特新小巨人企业", y - 2)
        if tech and rd > 0 and rng.random() < 0.12:
            add("创新型中小企业", y - int(rng.integers(1, 4)))
        if mfg and rev >= 50_000_000 and rng.random() < 0.35:
            add("企业技术中心", y - int(rng.integers(1, 8)))
        if mfg and rev >= 30_000_000 and rng.random() < 0.2:
            add("绿色工厂", y - int(rng.integers(1, 5)))
        if mfg and preset.rd == "tech" and rev >= 50_000_000 and rng.random() < 0.25:
            add("智能制造示范工厂", y - 1)
        if rev >= 50_000_000 and rng.random() < 0.3:
            add("上市后备企业", y)
        if tech and 3 <= age <= 10 and rev >= 20_000_000 and rng.random() < 0.3:
            add("瞪羚企业", y - 1)
        if act.code.startswith("I65") and rev >= 10_000_000 and rng.random() < 0.3:
            add("技术先进型服务企业", y - 2)
        return out

    # --- one firm -------------------------------------------------------------------

    def firm(self, arch: Archetype | None = None) -> dict[str, Any]:
        """One firm; an archetype fixes its county, activity and a few floors."""
        rng = self.rng
        ref = REFERENCE_DATE
        if arch is None:
            _, preset_name, act = self.activities[self.queue.pop()]
        else:
            _, preset_name, act = next(a for a in self.activities if a[2].code == arch.activity)
        p = PRESETS[preset_name]
        if arch is None:
            county = self._county(tech=p.rd == "tech")
        else:
            county = next(c for c in self.counties if c.code == arch.county)

        age = min(1.0 + rng.gamma(1.5, 5.5), 32.0)
        if arch is not None:
            age = max(age, arch.min_age + rng.random())
        established = ref - dt.timedelta(days=int(age * 365.25))
        maturity = min(1.0, 0.45 + age / 8)  # young firms are smaller
        employees = max(1, int(round(p.employees * maturity * rng.lognormal(0, p.employees_sigma))))
        revenue = _round100(employees * p.revenue_per_employee * rng.lognormal(0, p.revenue_sigma))
        revenue = max(revenue, 10_000)
        if arch is not None and revenue < arch.revenue_min:
            scale = arch.revenue_min * (1 + 0.4 * rng.random()) / revenue
            revenue = _round100(revenue * scale)
            employees = max(employees, int(round(employees * math.sqrt(scale))))
        total_assets = _round100(revenue * p.asset_ratio * rng.lognormal(0, 0.5))
        k = int(
            np.clip(
                round(math.log(revenue * rng.lognormal(-1.5, 1.0)) / math.log(10) * 2 - 10),
                0,
                len(_CAPITAL_LADDER) - 1,
            )
        )
        registered_capital = _CAPITAL_LADDER[k]
        tax_paid = _round100(revenue * min(rng.lognormal(math.log(0.03), 0.5), 0.15))

        # R&D: tech activities spend a few per cent of revenue, others little or nothing.
        if p.rd == "tech":
            rd_ratio = float(np.clip(rng.lognormal(math.log(0.04), 0.6), 0.003, 0.3))
            if rng.random() < 0.12:
                rd_ratio = 0.0
        elif p.rd == "some":
            rd_ratio = (
                float(np.clip(rng.lognormal(math.log(0.015), 0.6), 0.001, 0.1))
                if (rng.random() < 0.45)
                else 0.0
            )
        else:
            rd_ratio = 0.0
        if arch is not None:
            rd_ratio = max(rd_ratio, arch.rd_ratio_min * (1 + 0.3 * rng.random()))
        rd_expense = _round100(revenue * rd_ratio)
        if rd_expense > 0:
            growth = rng.lognormal(0.08, 0.3)
            rd_expense_prev = _round100(rd_expense / growth) if age >= 2 else 0
        else:
            rd_expense_prev = _round100(revenue * 0.01) if rng.random() < 0.03 else 0
        if rd_expense > 0:
            share = rng.lognormal(math.log(0.15 if p.rd == "tech" else 0.06), 0.5)
            if arch is not None:
                share = max(share, arch.rd_staff_min * (1 + 0.3 * rng.random()))
            rd_staff = max(1, int(math.ceil(employees * min(share, 0.8))))
        else:
            rd_staff = 0
        rd_staff_ratio = _ratio(rd_staff / employees)
        if p.rd == "tech" and rd_expense > 0:
            high_tech = _ratio(0.2 + 0.75 * rng.random())
        elif rd_expense > 0 and rng.random() < 0.4:
            high_tech = _ratio(0.05 + 0.45 * rng.random())
        else:
            high_tech = 0.0
        if rd_expense > 0:
            invention = int(rng.poisson(0.3 + rd_expense / 1_500_000))
            utility = int(rng.poisson(1.0 + rd_expense / 400_000))
        else:
            invention, utility = 0, int(rng.poisson(0.1))
        software = (
            int(rng.poisson(4 + employees / 4))
            if act.code[0] == "I"
            else (int(rng.poisson(1.5)) if p.rd == "tech" else 0)
        )
        if arch is not None:
            invention = max(invention, arch.invention_min)
            software = max(software, arch.software_min)

        months_since = (ref.year - established.year) * 12 + ref.month - established.month
        u = rng.random()
        if u < 0.07:
            ui_months = 0  # not insured (yet)
        elif u < 0.30:
            ui_months = int(rng.integers(1, max(2, months_since)))  # a break in payments
        else:
            ui_months = max(0, months_since - int(rng.integers(0, 4)))
        u = rng.random()
        if u < 0.55:
            layoff = 0.0
        else:
            rate = (
                rng.uniform(0.005, 0.055)
                if u < 0.85
                else rng.uniform(0.055, 0.15)
                if u < 0.95
                else rng.uniform(0.15, 0.4)
            )
            laid = max(1, int(round(rate * employees)))
            layoff = _ratio(laid / (employees + laid))
        rating = "M" if age < 2 and rng.random() < 0.7 else _pick(rng, _TAX_RATINGS)
        if arch is not None and arch.tax_credit_rating:
            rating = arch.tax_credit_rating
        export = _round100(revenue * rng.uniform(0.05, 0.7)) if rng.random() < p.export_prob else 0
        if arch is not None and arch.export_share:
            export = _round100(revenue * arch.export_share * (0.8 + 0.4 * rng.random()))

        f: dict[str, Any] = {
            "region_code": county.code,
            "industry_code": act.code,
            "established_on": established.isoformat(),
            "employees": employees,
            "revenue": revenue,
            "total_assets": total_assets,
            "rd_expense": rd_expense,
            "registered_capital": registered_capital,
            "tax_paid": tax_paid,
            "export_value": export,
            "rd_expense_prev": rd_expense_prev,
            "rd_staff_ratio": rd_staff_ratio,
            "high_tech_revenue_ratio": high_tech,
            "invention_patents": invention,
            "utility_patents": utility,
            "software_copyrights": software,
            "unemployment_insurance_months": ui_months,
            "layoff_rate": layoff,
            "tax_credit_rating": rating,
        }
        quals = self._qualifications(f, p, act, age)
        if arch is not None:
            forced = {name for name, _ in arch.qualifications}
            quals = [q for q in quals if q["name"] not in forced] + [
                qualification(name, year, rng) for name, year in arch.qualifications
            ]
        if any(q["name"] == "高新技术企业" for q in quals):
            # 高企 must show ≥60 % 高新技术产品收入 and ≥10 % 科技人员 (国科发火〔2016〕32号).
            f["high_tech_revenue_ratio"] = _ratio(0.6 + 0.35 * rng.random())
            if f["rd_staff_ratio"] < 0.1:
                f["rd_staff_ratio"] = _ratio(math.ceil(employees * 0.1) / employees)
        f["qualifications"] = quals
        f["listed"] = bool(revenue >= 500_000_000 and rng.random() < 0.5)
        f["serious_dishonesty"] = bool(rng.random() < 0.012) and arch is None
        f["major_accident_3y"] = bool(rng.random() < p.accident_prob) and arch is None
        f["business_scope"] = (
            "一般项目："
            + act.scope
            + "。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
        )
        f["products"] = act.products
        tags = [_pick(rng, _OWNERSHIP)]
        if act.chain:
            tags.append(act.chain)
        if export > 0:
            tags.append("外贸出口")
        f["tags"] = tags

        record: dict[str, Any] = {
            "uscc": self._uscc(county, established),
            "name": self._name(county, act, big=revenue >= 100_000_000),
            **f,
        }
        if arch is None and rng.random() < INCOMPLETE_SHARE:
            names = list(_MISSABLE)
            w = np.array([_MISSABLE[n] for n in names])
            k = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.17, 0.08]))
            for i in rng.choice(len(names), size=k, replace=False, p=w / w.sum()):
                record.pop(names[int(i)])
        return {key: record[key] for key in PROFILE_FIELDS if key in record}


def generate_firms(
    n: int, seed: int = SEED, archetypes: tuple[Archetype, ...] = ARCHETYPES
) -> list[dict[str, Any]]:
    """``n`` firms in contract form (yuan, fractions), deterministic for a seed.

    The archetypes take random places among the ``n``; the rest follow the sector quota.
    """
    factory = FirmFactory(n - len(archetypes), seed)
    slots = set(int(i) for i in factory.rng.choice(n, size=len(archetypes), replace=False))
    todo = list(archetypes)
    return [factory.firm(todo.pop(0) if i in slots else None) for i in range(n)]


# --- writers ------------------------------------------------------------------------


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# Chinese headers with the unit each implies (profiles/headers.py converts them back).
CSV_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("统一社会信用代码", "uscc", "text"),
    ("企业名称", "name", "text"),
    ("注册地区划代码", "region_code", "text"),
    ("行业代码", "industry_code", "text"),
    ("成立日期", "established_on", "text"),
    ("从业人数", "employees", "int"),
    ("营业收入(万元)", "revenue", "wan"),
    ("资产总额(万元)", "total_assets", "wan"),
    ("研发费用(万元)", "rd_expense", "wan"),
    ("注册资本(万元)", "registered_capital", "wan"),
    ("纳税总额(万元)", "tax_paid", "wan"),
    ("出口额(万元)", "export_value", "wan"),
    ("前一年度研发费用(万元)", "rd_expense_prev", "wan"),
    ("研发人员占比(%)", "rd_staff_ratio", "pct"),
    ("高新技术产品收入占比(%)", "high_tech_revenue_ratio", "pct"),
    ("有效发明专利数", "invention_patents", "int"),
    ("实用新型专利数", "utility_patents", "int"),
    ("软件著作权数", "software_copyrights", "int"),
    ("连续缴纳失业保险月数", "unemployment_insurance_months", "int"),
    ("裁员率(%)", "layoff_rate", "pct"),
    ("纳税信用等级", "tax_credit_rating", "text"),
    ("资质", "qualifications", "json"),
    ("是否上市", "listed", "bool"),
    ("是否严重失信", "serious_dishonesty", "bool"),
    ("近三年重大事故", "major_accident_3y", "bool"),
    ("经营范围", "business_scope", "text"),
    ("主营产品", "products", "text"),
    ("标签", "tags", "list"),
)


def _cell(value: Any, kind: str) -> str:
    """One CSV cell in the header's unit; empty for unknown."""
    if value is None:
        return ""
    if kind == "wan":  # whole hundreds of yuan → 万元 with two decimals, exactly
        v = int(value)
        return f"{v // 10000}.{(v % 10000) // 100:02d}"
    if kind == "pct":
        return f"{value * 100:.2f}"
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "是" if value else "否"
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "list":
        return "、".join(value)
    return str(value)


def _csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([h for h, _, _ in CSV_COLUMNS])
    for r in records:
        w.writerow([_cell(r.get(key), kind) for _, key, kind in CSV_COLUMNS])
    return buf.getvalue()


def bad_records(spares: list[dict[str, Any]]) -> str:
    """Six lines, four of them broken in the ways real exports break (see README)."""
    good1, good2, a, b, c, d = spares[:6]
    broken = json.dumps(a, ensure_ascii=False)
    broken = broken[: broken.rfind(', "', 0, len(broken) // 2)]  # cut off mid-record
    b = dict(b)
    last = b["uscc"][-1]
    alphabet = _USCC_ALNUM
    b["uscc"] = b["uscc"][:-1] + alphabet[(alphabet.index(last) + 1) % len(alphabet)]
    c = dict(c)
    c["region_code"] = "430199"  # no such county in 长沙市
    d = dict(d)
    d["revenue"] = "约1200万"
    lines = [
        json.dumps(good1, ensure_ascii=False),
        broken,
        json.dumps(b, ensure_ascii=False),
        json.dumps(good2, ensure_ascii=False),
        json.dumps(c, ensure_ascii=False),
        json.dumps(d, ensure_ascii=False),
    ]
    return "".join(line + "\n" for line in lines)


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(out_dir: str | Path | None = None) -> list[Path]:
    """(Re)write the three firm files into ``out_dir`` (default: this package's folder)."""
    out = Path(out_dir) if out_dir is not None else OUT_DIR
    main_firms = generate_firms(N_FIRMS)
    spares = generate_firms(6, SEED + 1, archetypes=())
    paths = [out / "firms.jsonl", out / "firms_zh.csv", out / "firms_bad.jsonl"]
    _write(paths[0], _jsonl(main_firms))
    _write(paths[1], _csv(main_firms[:N_CSV]), encoding="utf-8-sig")
    _write(paths[2], bad_records(spares))
    return paths


if __name__ == "__main__":
    for p in main(sys.argv[1] if len(sys.argv) > 1 else None):
        print(p)
