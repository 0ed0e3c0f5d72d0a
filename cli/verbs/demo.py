"""``policy-match demo``: the main job on the bundled sample data, for a first look.

Loads the sample firms and policies shipped in ``samples/``, evaluates every policy for
every firm, writes the eligibility CSV, and prints for a few firms what they qualify for,
how much, and what keeps them from the policies they nearly meet.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cli.args import iso_date
from cli.output import write_csv
from matcher.eligibility import Evaluation, eligibility_table, evaluate
from matcher.fields import MONEY_FIELDS, QUALIFICATIONS, RATIO_FIELDS
from matcher.policy import Policy
from policies.read import read_policies
from profiles.read import read_profiles
from profiles.reference import industry_names, region_full_name, size_standard
from store import open_store

MODE_NAMES = {"apply": "需申报", "no_application": "免申即享", "instant": "即申即享"}
SIZE_NAMES = {"micro": "微型", "small": "小型", "medium": "中型", "large": "大型"}


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the bundled sample data and print a few firms' matches")
    p.add_argument("--as-of", type=iso_date, default=iso_date("2026-11-26"),
                   help="evaluation date (default 2026-11-26)")
    p.add_argument("--out", default="out", help="folder for the result files (default ./out)")
    p.add_argument("--firms", type=int, default=5, help="how many firms to print (default 5)")
    p.set_defaults(func=run)


def sample_path(name: str) -> Path:
    return Path(str(resources.files("samples").joinpath(name)))


def yuan(v: float) -> str:
    """¥ with 万 for readability: ¥1,234万 or ¥8,000."""
    if v != v:
        return "金额待定"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v >= 10_000:
        return f"{sign}¥{v / 10_000:,.1f}万".replace(".0万", "万")
    return f"{sign}¥{v:,.0f}"


def value_text(field: str, row: Any) -> str:
    """The firm's current value of ``field``, as a person reads it."""
    if field == "qualifications":
        mask = int(row["qualification_mask"])
        if mask < 0:
            return "资质未知"
        names = [q for b, q in enumerate(QUALIFICATIONS) if mask >> b & 1]
        return "当前有效资质：" + ("、".join(names) if names else "无")
    v = row.get(field)
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return "未知"
    if field in MONEY_FIELDS or field == "rd_increase":
        return yuan(float(v))
    if field in RATIO_FIELDS or field == "rd_ratio":
        return f"{float(v):.1%}"
    if field == "size_class":
        return SIZE_NAMES.get(str(v), str(v))
    if field == "region_code":
        return region_full_name(str(v))
    if field == "industry_code":
        return industry_names().get(str(v), str(v))
    if isinstance(v, bool | np.bool_):
        return "是" if v else "否"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _interesting_firms(ev: Evaluation, k: int) -> list[int]:
    """Firms with the most eligible policies, ties broken by uscc (deterministic)."""
    eligible = (ev.status == 2).sum(axis=0)
    order = sorted(range(ev.firms.n), key=lambda i: (-int(eligible[i]), ev.firms.uscc[i]))
    return order[:k]


def _print_firm(ev: Evaluation, i: int, table_rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    row = ev.firms.frame.iloc[i]
    uscc = ev.firms.uscc[i]
    industry = industry_names().get(str(row["industry_code"]), "行业未知")
    code = row["region_code"]
    region = region_full_name(str(code)) if isinstance(code, str) else ""
    size = SIZE_NAMES.get(str(row["size_class"]), "规模未知")
    print(f"\n■ {row['name']}（{uscc}）{region} · {industry} · {size}")
    policies: list[Policy] = ev.policies
    eligible, undetermined, near = [], [], []
    for p, policy in enumerate(policies):
        r = table_rows[(uscc, policy.id)]
        if r["status"] == "eligible":
            eligible.append((policy, r))
        elif r["status"] == "undetermined":
            undetermined.append((policy, r))
        elif r["unmet"] and " | " not in r["unmet"] and policy.valid_on(ev.as_of):
            leaf = next((lf for lf in ev.program.leaves[p] if lf.source == r["unmet"]), None)
            near.append((policy, r, leaf))
    if eligible:
        print("  可享受：")
        for policy, r in eligible:
            amount = f"最高约 {yuan(float(r['amount']))}" if r["amount"] else "金额按实际核定"
            print(f"    ✓ {policy.title}  [{MODE_NAMES[policy.mode]}]  {amount}")
    if undetermined:
        print("  补充信息后可判定：")
        for policy, r in undetermined[:4]:
            fields = [f for f in r["unknown"].split(" | ") if f and f != "unmapped"]
            need = "需补充：" + "、".join(fields) if fields else ""
            review = "含需人工审核的条件" if "unmapped" in r["unknown"] else ""
            print(f"    ? {policy.title}  — {'；'.join(x for x in (need, review) if x)}")
    if near:
        print("  差一点（仅一项条件未满足）：")
        for policy, r, leaf in near[:4]:
            current = ""
            if leaf is not None and leaf.field != "unmapped":
                current = f"（{value_text(leaf.field, row)}）"
            print(f"    ✗ {policy.title}  — 未满足：{r['unmet']}{current}")
    if not (eligible or undetermined or near):
        print("  暂无匹配政策")


def run(args: argparse.Namespace) -> int:
    """Load the samples into an embedded SQLite store, evaluate from it, record the run."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(out / 'policy_match.db').resolve()}"
    report = read_profiles(sample_path("firms.jsonl"))
    policies = read_policies(sample_path("policies.jsonl"))
    with open_store(url) as store:
        records = ((f"firms.jsonl:{i + 1}", r) for i, r in enumerate(report.records))
        store.import_firms(records, source="samples/firms.jsonl", actor="demo")
        store.import_policies(policies, actor="demo", source="samples/policies.jsonl",
                              publish=True)
        frame, _ = store.firms_frame()
        published, _ = store.published_policies()
        published = sorted(published, key=lambda p: p.id)
        run_row = store.create_run(kind="demo", as_of=args.as_of, actor="demo")
        ev = evaluate(frame, published, args.as_of, size_standard())
        table = eligibility_table(ev)
        store.write_results(run_row.id, table)
        counts = table["status"].value_counts()
        store.finish_run(run_row.id, state="done", actor="demo",
                         counts={k: int(v) for k, v in counts.items()})
    write_csv(table, out / "eligibility.csv")
    rows = {(r["uscc"], r["policy_id"]): r for r in table.to_dict(orient="records")}
    print(f"政策找企业 demo — {ev.firms.n} 家企业 × {len(published)} 项政策，评估日 {args.as_of}")
    print("  " + "，".join(f"{k} {counts.get(k, 0)}" for k in ("eligible", "undetermined",
                                                              "ineligible")))
    for i in _interesting_firms(ev, args.firms):
        _print_firm(ev, i, rows)
    print(f"\n全部结果：{out / 'eligibility.csv'}（UTF-8 BOM，可用 Excel 打开）")
    print(f"数据库（SQLite）：{out / 'policy_match.db'}，运行记录 {run_row.id}")
    return 0
