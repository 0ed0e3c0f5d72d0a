"""Write the labelled relevance set: ``firms.jsonl``, ``policies.jsonl``, ``labels.jsonl``.

Run ``python tests/data/relevance/build.py`` from the repository root. Output is a pure
function of ``SEED`` (the test suite regenerates it and compares byte for byte).

* 17 sectors (``sectors.py``) × ``FIRMS_PER_SECTOR`` synthetic Hunan firms whose
  经营范围 and 主营产品 are written for their sector, with the generic licence items and
  the odd off-sector item real licences carry, and some firms with thin text.
* 3 policies per sector, 6 cross-sector (cluster) policies and 8 generic ones (R&D
  grants, 稳岗返还 …) that target no sector, each with a 支持对象 / 支持方向 text, a
  condition tree (mostly a Hunan region and a few thresholds) and a benefit.
* Graded labels per firm: 2 = the policy targets the firm's sector, 1 = a related
  sector (same cluster, or an explicit link), absent = 0.
* A fixed split (``tune`` / ``test``, half of each sector's firms): weights are tuned on
  ``tune`` and reported on ``test``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sectors import BY_KEY, CLUSTER_POLICIES, GENERIC_POLICIES, SECTORS  # noqa: E402

from profiles.reference import region_names  # noqa: E402
from profiles.uscc import make_uscc  # noqa: E402

SEED = 20261126
FIRMS_PER_SECTOR = 12
AS_OF = "2026-06-30"

COUNTIES: tuple[tuple[str, str], ...] = (
    ("430102", "长沙"), ("430104", "长沙"), ("430111", "长沙"), ("430121", "长沙"),
    ("430203", "株洲"), ("430211", "株洲"), ("430302", "湘潭"), ("430408", "衡阳"),
    ("430602", "岳阳"), ("430702", "常德"), ("431002", "郴州"), ("431202", "怀化"),
)
CITY_PREFIX = {"长沙": "4301", "株洲": "4302", "湘潭": "4303"}
GENERIC_SCOPE = (
    "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广", "货物进出口", "技术进出口",
    "软件开发", "信息咨询服务（不含许可类信息咨询服务）", "机械设备销售",
    "租赁服务（不含许可类租赁服务）",
    "企业管理咨询", "普通机械设备安装服务", "新材料技术推广服务", "人工智能应用软件开发",
)
BOILERPLATE = "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
BRAND = "华湘天宏联科博恒鑫瑞中新远达楚麓星晟创嘉盛泰安和信德昌隆富源佳航拓智鼎汇融凯明正卓越辰"
TITLES = (
    "关于组织申报{year}年度{theme}发展专项资金项目的通知",
    "{region}支持{theme}高质量发展的若干措施",
    "关于开展{year}年{theme}重点项目和创新产品征集工作的通知",
)


def _pick(rng: np.random.Generator, items: tuple[str, ...], k: int) -> list[str]:
    idx = rng.choice(len(items), size=min(k, len(items)), replace=False)
    return [items[i] for i in sorted(idx)]


def _firm(rng: np.random.Generator, sector: Any, n: int) -> dict[str, Any]:
    region, city = COUNTIES[int(rng.integers(len(COUNTIES)))]
    assert region in region_names(), region
    body = "".join(rng.choice(list("0123456789ABCDEFGHJKLMNPQRTUWXY"), size=8))
    brand = "".join(rng.choice(list(BRAND), size=2, replace=False))
    word = sector.name_words[int(rng.integers(len(sector.name_words)))]
    items = _pick(rng, sector.scope, int(rng.integers(2, 5)))
    items += _pick(rng, GENERIC_SCOPE, int(rng.integers(1, 4)))
    rng.shuffle(items)
    scope = "一般项目：" + "；".join(items) + "。" + BOILERPLATE
    products = "、".join(_pick(rng, sector.products, int(rng.integers(1, 4))))
    thin = rng.random()
    employees = int(np.clip(rng.lognormal(np.log(60), 0.9), 3, 3000))
    revenue = int(round(float(employees * rng.lognormal(np.log(600_000), 0.5)), -3))
    rd_ratio = float(rng.uniform(0.005, 0.09))
    rec: dict[str, Any] = {
        "uscc": make_uscc(region, body),
        "name": f"{city}{brand}{word}有限公司",
        "region_code": region,
        "industry_code": sector.codes[int(rng.integers(len(sector.codes)))],
        "established_on": f"{int(rng.integers(2005, 2025))}-{int(rng.integers(1, 13)):02d}-15",
        "employees": employees,
        "revenue": revenue,
        "total_assets": int(round(revenue * float(rng.uniform(0.6, 1.8)), -3)),
        "rd_expense": int(round(revenue * rd_ratio, -2)),
        "rd_expense_prev": int(round(revenue * rd_ratio * float(rng.uniform(0.7, 1.1)), -2)),
        "rd_staff_ratio": round(float(rng.uniform(0.03, 0.4)), 3),
        "invention_patents": int(rng.poisson(2)),
        "utility_patents": int(rng.poisson(5)),
        "software_copyrights": int(rng.poisson(3)),
        "unemployment_insurance_months": int(rng.integers(6, 120)),
        "layoff_rate": round(float(rng.uniform(0, 0.12)), 3),
        "tax_credit_rating": str(rng.choice(["A", "A", "B", "B", "M"])),
        "qualifications": (
            [{"name": "高新技术企业"}] if rng.random() < 0.3 else []
        ) + ([{"name": "专精特新中小企业"}] if rng.random() < 0.15 else []),
        "listed": False,
        "serious_dishonesty": False,
        "major_accident_3y": False,
        "business_scope": scope,
        "products": products,
    }
    if thin < 0.12:
        del rec["business_scope"]  # only the product list is known
    elif thin < 0.2:
        del rec["products"]
    return rec


def _conditions(rng: np.random.Generator) -> dict[str, Any]:
    leaves: list[dict[str, Any]] = []
    r = rng.random()
    if r < 0.6:
        leaves.append({"field": "region_code", "op": "in", "value": ["43"],
                       "source": "在湖南省内注册"})
    elif r < 0.85:
        city = str(rng.choice(list(CITY_PREFIX)))
        leaves.append({"field": "region_code", "op": "in", "value": [CITY_PREFIX[city]],
                       "source": f"在{city}市注册"})
    if rng.random() < 0.5:
        lo = int(rng.choice([5, 10, 20])) * 1_000_000
        leaves.append({"field": "revenue", "op": ">=", "value": lo,
                       "source": f"上年度营业收入{lo // 10_000}万元以上"})
    if rng.random() < 0.4:
        ratio = float(rng.choice([0.02, 0.03]))
        leaves.append({"field": "rd_ratio", "op": ">=", "value": ratio,
                       "source": f"研发投入占营业收入比例不低于{int(ratio * 100)}%"})
    leaves.append({"field": "serious_dishonesty", "op": "==", "value": False,
                   "source": "未列入严重失信主体名单"})
    return {"all": leaves}


def _policy(
    rng: np.random.Generator, pid: str, title: str, target: str, directions: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    lines = ["一、支持对象", target + "。", "二、支持方向"]
    cn = "一二三四五六七八九"
    lines += [f"（{cn[i]}）{d}。" for i, d in enumerate(directions)]
    amount = int(rng.choice([20, 50, 100, 200, 300, 500])) * 10_000
    conditions = _conditions(rng)
    lines += ["三、申报条件", "；".join(c["source"] for c in conditions["all"]) + "。",
              "四、支持标准", f"对符合条件的项目给予最高{amount // 10_000}万元支持。",
              "五、申报程序", "企业通过省政务服务平台在线申报，市州主管部门初审后报送。"]
    prefs = []
    if rng.random() < 0.3:
        prefs.append({"field": "qualifications", "op": "has", "value": "专精特新中小企业",
                      "source": "优先支持专精特新中小企业"})
    return {
        "id": pid, "title": title, "issuer": "湖南省工业和信息化厅", "issued_on": "2026-03-01",
        "valid_from": "2026-03-01", "valid_until": "2026-12-31", "mode": "apply",
        "conditions": conditions, "preferences": prefs,
        "benefits": [{"kind": "grant", "amount": amount, "source": f"最高{amount // 10_000}万元"}],
        "text": "\n".join(lines), "source_url": "", **extra,
    }


def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(SEED)
    policies: list[dict[str, Any]] = []
    targets: dict[str, tuple[set[str], set[str]]] = {}  # policy -> (grade 2, grade 1)

    def related(keys: set[str]) -> set[str]:
        out: set[str] = set()
        for k in keys:
            s = BY_KEY[k]
            out |= {o.key for o in SECTORS if o.cluster == s.cluster} | set(s.related)
        return out - keys

    for s in SECTORS:
        for j in range(3):
            pid = f"rel-{s.key}-{j + 1}"
            title = TITLES[j].format(year=2026, theme=s.theme, region="湖南省")
            dirs = _pick(rng, s.directions, 3)
            policies.append(_policy(rng, pid, title, s.target, dirs, {"sectors": [s.key]}))
            targets[pid] = ({s.key}, related({s.key}))
    for j, (theme, keys, target, dirs) in enumerate(CLUSTER_POLICIES):
        pid = f"rel-cluster-{j + 1}"
        title = f"关于支持{theme}产业发展的若干政策措施"
        policies.append(_policy(rng, pid, title, target, list(dirs), {"sectors": list(keys)}))
        targets[pid] = (set(keys), related(set(keys)))
    for j, (theme, target, dirs) in enumerate(GENERIC_POLICIES):
        pid = f"rel-generic-{j + 1}"
        title = f"关于做好{theme}工作的通知"
        policies.append(_policy(rng, pid, title, target, list(dirs), {"sectors": []}))
        targets[pid] = (set(), set())

    firms: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for s in SECTORS:
        order = rng.permutation(FIRMS_PER_SECTOR)
        for n in range(FIRMS_PER_SECTOR):
            firm = _firm(rng, s, n)
            firms.append(firm)
            grades = {}
            for pid, (two, one) in targets.items():
                if s.key in two:
                    grades[pid] = 2
                elif s.key in one:
                    grades[pid] = 1
            labels.append({
                "uscc": firm["uscc"], "sector": s.key, "sector_name": s.name,
                "split": "tune" if order[n] < FIRMS_PER_SECTOR // 2 else "test",
                "grades": dict(sorted(grades.items())),
            })
    return firms, policies, labels


def _dump(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def render() -> dict[str, str]:
    """File name → content, without writing (the determinism test compares these)."""
    firms, policies, labels = build()
    return {
        "firms.jsonl": _dump(firms),
        "policies.jsonl": _dump(policies),
        "labels.jsonl": _dump(labels),
    }


def main(out: Path = HERE) -> None:
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
