"""Small, deterministic firms and 免申即享 policies for the batch-run tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from profiles.uscc import make_uscc

REGIONS = ("430102", "430111", "430202", "430302", "430602", "110101")
INDUSTRIES = ("C3491", "C2614", "F5123", "I6513", "M7320", "C")
RATINGS = ("A", "B", "M", "C", "D")
QUALS = ("高新技术企业", "科技型中小企业", "专精特新中小企业")


def firm_records(n: int, seed: int = 0, unknown_rate: float = 0.1) -> list[dict[str, Any]]:
    """``n`` valid contract records, with some fields unknown so lists get undetermined rows."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        region = REGIONS[int(rng.integers(len(REGIONS)))]
        rec: dict[str, Any] = {
            "uscc": make_uscc(region, f"{(i * 7919 + seed * 131) % 10**8:08d}"),
            "name": f"测试企业{seed}-{i}",
            "region_code": region,
            "industry_code": INDUSTRIES[int(rng.integers(len(INDUSTRIES)))],
            "established_on": f"{2005 + int(rng.integers(19))}-0{1 + int(rng.integers(9))}-15",
            "employees": int(rng.integers(1, 400)),
            "revenue": float(int(rng.integers(1, 5000)) * 10_000),
            "total_assets": float(int(rng.integers(1, 8000)) * 10_000),
            "rd_expense": float(int(rng.integers(0, 300)) * 10_000),
            "tax_paid": float(int(rng.integers(0, 200)) * 1_000),
            "unemployment_insurance_months": int(rng.integers(0, 48)),
            "layoff_rate": round(float(rng.uniform(0, 0.1)), 3),
            "tax_credit_rating": RATINGS[int(rng.integers(len(RATINGS)))],
            "invention_patents": int(rng.integers(0, 4)),
            "serious_dishonesty": bool(rng.random() < 0.05),
            "qualifications": [{"name": q} for q in QUALS if rng.random() < 0.2],
        }
        for key in ("revenue", "layoff_rate", "tax_credit_rating", "unemployment_insurance_months",
                    "rd_expense", "qualifications"):
            if rng.random() < unknown_rate:
                del rec[key]
        out.append(rec)
    return out


def policy_objects() -> list[dict[str, Any]]:
    """Five 免申即享 policies (one exclusive pair, one capped pair) and one 需申报 policy."""
    return [
        {"id": "wengang", "title": "稳岗返还", "mode": "no_application",
         "valid_from": "2024-01-01", "valid_until": "2026-12-31",
         "conditions": {"all": [
             {"field": "region_code", "op": "in", "value": ["43"], "source": "湖南省内参保企业"},
             {"field": "unemployment_insurance_months", "op": ">=", "value": 12,
              "source": "连续足额缴纳失业保险费12个月以上"},
             {"field": "layoff_rate", "op": "<=", "value": 0.055, "source": "裁员率不高于5.5%"},
             {"field": "serious_dishonesty", "op": "==", "value": False,
              "source": "未列入严重失信主体名单"}]},
         "benefits": [{"kind": "subsidy", "rate": 0.6, "base": "tax_paid", "cap": 100000,
                       "source": "按60%返还"}],
         "exclusive_with": ["wengang_cs"]},
        {"id": "wengang_cs", "title": "长沙稳岗补贴", "mode": "no_application",
         "conditions": {"all": [
             {"field": "region_code", "op": "in", "value": ["4301"], "source": "长沙市企业"},
             {"field": "unemployment_insurance_months", "op": ">=", "value": 6,
              "source": "参保6个月以上"}]},
         "benefits": [{"kind": "grant", "amount": 30000, "source": "补贴3万元"}]},
        {"id": "gaoqi", "title": "高企奖励", "mode": "no_application",
         "conditions": {"all": [
             {"field": "qualifications", "op": "has", "value": "高新技术企业",
              "source": "认定为高新技术企业"},
             {"field": "tax_credit_rating", "op": "in", "value": ["A", "B"],
              "source": "纳税信用A级或B级"}]},
         "benefits": [{"kind": "grant", "amount": 200000, "source": "奖励20万元"}],
         "per_firm_cap": 250000, "cap_group": "科技奖补"},
        {"id": "yanfa", "title": "研发奖补", "mode": "no_application",
         "conditions": {"all": [
             {"field": "rd_ratio", "op": ">=", "value": 0.03, "source": "研发投入占营业收入3%以上"},
             {"field": "industry_code", "op": "in", "value": ["C"], "source": "制造业企业"}]},
         "benefits": [{"kind": "subsidy", "rate": 0.1, "base": "rd_expense", "cap": 1000000,
                       "source": "按研发投入10%奖补"}],
         "per_firm_cap": 300000, "cap_group": "科技奖补"},
        {"id": "xiaowei", "title": "小微企业奖励", "mode": "no_application",
         "conditions": {"all": [
             {"field": "size_class", "op": "in", "value": ["micro", "small"], "source": "小微企业"},
             {"field": "age_years", "op": "<", "value": 5, "source": "成立不满5年"}]},
         "benefits": [{"kind": "grant", "amount": 5000, "source": "奖励5000元"}]},
        {"id": "shenbao", "title": "需申报项目", "mode": "apply",
         "conditions": {"field": "employees", "op": ">=", "value": 10,
                        "source": "从业人员10人以上"},
         "benefits": [{"kind": "grant", "amount": 1, "source": "x"}]},
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    """Records as a Parquet file in contract columns (qualifications a list of structs)."""
    qual_type = pa.list_(pa.struct([("name", pa.string())]))
    columns = sorted({k for r in records for k in r}, key=lambda k: list(records[0]).index(k)
                     if k in records[0] else 99)
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in records]
        arrays[c] = pa.array(values, type=qual_type) if c == "qualifications" else pa.array(values)
    pq.write_table(pa.table(arrays), path)
    return path
