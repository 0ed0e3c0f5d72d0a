"""``runs diff A B``: which firms entered or left each policy's list, and why.

A list changes for three kinds of reason, and the report names which:

* the policy changed — its conditions or benefits (their hashes are in both manifests;
  the leaves added or removed are read from each run's policy snapshot), its validity
  window, or the evaluation date;
* the firm's data changed — the fields the policy's conditions and benefits read (with the
  inputs of derived attributes: revenue for rd_ratio …), compared value by value in the two
  runs' input files when they are still there unchanged (their hash is in the manifest);
* a stacking rule — the row was dropped or reduced in one run (``adjustments.csv``).

For a firm that left (or entered), the conditions it fails in the run where it is not
listed are given by re-evaluating just that firm with that run's policy snapshot and date.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from matcher.conditions import Condition
from matcher.eligibility import eligibility_table, evaluate
from matcher.errors import PolicyMatchError, RecordError
from matcher.missing import profile_inputs
from matcher.policy import Policy
from policies.read import parse_policies
from profiles.reference import size_standard
from runs.batch import records_frame
from runs.checkpoint import RUNS_DIRNAME, read_json
from runs.columns import frame_from_arrow
from runs.sources import ProfileSource, RecordChunk, file_sha256

DIFF_COLUMNS: tuple[str, ...] = (
    "policy_id", "uscc", "change", "status_a", "status_b", "amount_a", "amount_b", "reason",
)


@dataclass
class RunView:
    """A finished run as files: manifest, list, snapshot of policies, adjustments, spec."""

    path: Path
    manifest: dict[str, Any]
    spec: dict[str, Any]
    policies: dict[str, Policy]

    @classmethod
    def open(cls, ref: str | Path) -> RunView:
        """An output directory (with manifest.json) or a run directory (OUT/.runs/ID)."""
        p = Path(ref)
        if (p / "manifest.json").is_file() and not (p / "spec.json").is_file():
            run_id = read_json(p / "manifest.json")["run_id"]
            p = p / RUNS_DIRNAME / run_id
        if not (p / "manifest.json").is_file() or not (p / "spec.json").is_file():
            raise PolicyMatchError(f"{ref}: not a finished run (no manifest.json/spec.json)")
        text = (p / "policies.jsonl").read_text(encoding="utf-8")
        policies = {x.id: x for x in parse_policies(text.splitlines(), "policies.jsonl")}
        return cls(p, read_json(p / "manifest.json"), read_json(p / "spec.json"), policies)

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.manifest["as_of"])

    def rows(self) -> pd.DataFrame:
        t = pq.read_table(self.path / "eligible.parquet",
                          columns=["uscc", "policy_id", "status", "amount", "unmet", "unknown"])
        return t.to_pandas()

    def adjustments(self) -> pd.DataFrame:
        path = self.path / "adjustments.csv"
        if not path.is_file():
            return pd.DataFrame(columns=["uscc", "policy_id", "reason"])
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    def firms(self, usccs: set[str]) -> pd.DataFrame | None:
        """Profiles of some firms from this run's input, if it is still there unchanged."""
        info = self.spec["profiles"]
        if info.get("format") == "store":  # the store keeps only its current state
            return None
        path = Path(info["path"])
        if not usccs or not path.is_file() or file_sha256(path) != info["sha256"]:
            return None
        source = ProfileSource(path)
        wanted = sorted(usccs)
        if source.format == "parquet":
            table = pq.read_table(path, filters=[("uscc", "in", wanted)])
            return frame_from_arrow(table, path.name).frame
        frames = []
        for _, payload in source.chunks(50_000):
            assert isinstance(payload, RecordChunk)
            rows: list[tuple[str, dict[str, Any] | RecordError]] = [
                (w, r) for w, r in payload.rows if isinstance(r, dict)
                and str(r.get("uscc", "")).strip().upper() in usccs]
            if rows:
                frames.append(records_frame(RecordChunk(rows, payload.factors))[0])
        return pd.concat(frames, ignore_index=True) if frames else None


def _leaf_sources(node: Condition | None) -> set[str]:
    if node is None:
        return set()
    return {f"{leaf.field} {leaf.op} {leaf.value!r}（{leaf.source}）" for leaf in node.leaves()}


def _fields(policy: Policy | None) -> list[str]:
    if policy is None:
        return []
    out: list[str] = []
    leaves = list(policy.conditions.leaves()) if policy.conditions is not None else []
    for f in [leaf.field for leaf in leaves] + [b.base for b in policy.benefits if b.base]:
        for g in profile_inputs(f):
            if g not in out and g != "unmapped":
                out.append(g)
    return out


def _show(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "未知"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return "、".join(str(q.get("name", q)) if isinstance(q, dict) else str(q) for q in v) \
            or "无"
    return str(v)


def _policy_reasons(pid: str, a: RunView, b: RunView) -> list[str]:
    pa_, pb = a.policies.get(pid), b.policies.get(pid)
    if pa_ is None:
        return ["政策为本次新增（A 中无此政策）"]
    if pb is None:
        return ["政策不在 B 的运行中"]
    out = []
    fa = {p["id"]: p for p in a.manifest["policies"]}[pid]
    fb = {p["id"]: p for p in b.manifest["policies"]}[pid]
    if fa["conditions_sha256"] != fb["conditions_sha256"]:
        added = sorted(_leaf_sources(pb.conditions) - _leaf_sources(pa_.conditions))
        removed = sorted(_leaf_sources(pa_.conditions) - _leaf_sources(pb.conditions))
        text = "政策条件变更"
        if added:
            text += "；新增：" + "；".join(added)
        if removed:
            text += "；删除：" + "；".join(removed)
        out.append(text)
    if fa["benefits_sha256"] != fb["benefits_sha256"]:
        out.append("支持标准（金额/比例/上限）变更")
    if (fa["valid_from"], fa["valid_until"]) != (fb["valid_from"], fb["valid_until"]):
        out.append(f"有效期由 {fa['valid_from']}至{fa['valid_until']} 变为 "
                   f"{fb['valid_from']}至{fb['valid_until']}")
    if a.manifest["as_of"] != b.manifest["as_of"]:
        out.append(f"评估日期由 {a.manifest['as_of']} 变为 {b.manifest['as_of']}")
    return out


def _verdicts(view: RunView, frame: pd.DataFrame | None, policy: Policy | None,
              usccs: list[str]) -> dict[str, tuple[str, str, str]]:
    """(status, unmet, unknown) of some firms on one policy in one run, re-evaluated."""
    if frame is None or policy is None or not usccs:
        return {}
    sub = frame[frame["uscc"].isin(usccs)].reset_index(drop=True)
    if sub.empty:
        return {}
    ev = evaluate(sub, [policy], view.as_of, size_standard())
    t = eligibility_table(ev)
    return {u: (s, m, k) for u, s, m, k in
            zip(t["uscc"], t["status"], t["unmet"], t["unknown"], strict=True)}


def diff_runs(a_ref: str | Path, b_ref: str | Path) -> pd.DataFrame:
    """One row per firm whose place on a policy's list changed from run A to run B."""
    a, b = RunView.open(a_ref), RunView.open(b_ref)
    ra, rb = a.rows(), b.rows()
    merged = ra.merge(rb, on=["policy_id", "uscc"], how="outer", suffixes=("_a", "_b"),
                      indicator=True)
    amt_a = merged["amount_a"].to_numpy(dtype=np.float64)
    amt_b = merged["amount_b"].to_numpy(dtype=np.float64)
    same_amount = (amt_a == amt_b) | (np.isnan(amt_a) & np.isnan(amt_b))
    both = merged["_merge"].to_numpy() == "both"
    change = np.where(merged["_merge"] == "right_only", "entered",
                      np.where(merged["_merge"] == "left_only", "left",
                               np.where(~same_amount, "amount_changed",
                                        np.where(merged["status_a"] != merged["status_b"],
                                                 "status_changed", ""))))
    merged["change"] = change
    changed = merged[merged["change"] != ""].copy()
    if changed.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DIFF_COLUMNS})
    del both
    changed = changed.sort_values(["policy_id", "uscc"], kind="stable")
    usccs = set(changed["uscc"])
    fa, fb = a.firms(usccs), b.firms(usccs)
    by_a = {} if fa is None else {r["uscc"]: r for r in fa.to_dict(orient="records")}
    by_b = {} if fb is None else {r["uscc"]: r for r in fb.to_dict(orient="records")}
    adj_a = {(r.uscc, r.policy_id): r.reason for r in a.adjustments().itertuples()}
    adj_b = {(r.uscc, r.policy_id): r.reason for r in b.adjustments().itertuples()}
    reasons: list[str] = []
    for pid, group in changed.groupby("policy_id", sort=True):
        policy_a, policy_b = a.policies.get(pid), b.policies.get(pid)
        general = _policy_reasons(pid, a, b)
        left = group.loc[group["change"] == "left", "uscc"].tolist()
        entered = group.loc[group["change"] == "entered", "uscc"].tolist()
        why_left = _verdicts(b, fb, policy_b, left)
        why_entered = _verdicts(a, fa, policy_a, entered)
        fields = _fields(policy_a) + [f for f in _fields(policy_b) if f not in _fields(policy_a)]
        for row in group.itertuples():
            parts = list(general)
            if fa is not None and fb is not None:
                ra_, rb_ = by_a.get(row.uscc), by_b.get(row.uscc)
                if (ra_ is None) != (rb_ is None):
                    parts.append("企业不在 A 的数据中" if ra_ is None else "企业不在 B 的数据中")
                elif ra_ is not None and rb_ is not None:
                    for f in fields:
                        va, vb = _show(ra_.get(f)), _show(rb_.get(f))
                        if va != vb:
                            parts.append(f"数据变更：{f} {va} → {vb}")
            else:
                parts.append("（输入数据已不可用或已变，未比较企业数据）")
            key = (row.uscc, pid)
            if row.change == "left":
                if key in adj_b:
                    parts.append(f"B 中叠加规则：{adj_b[key]}")
                elif row.uscc in why_left:
                    s, unmet, unknown = why_left[row.uscc]
                    parts.append(f"B 中{_STATUS[s]}" + (f"，不满足：{unmet}" if unmet else "")
                                 + (f"，缺失：{unknown}" if unknown else ""))
            elif row.change == "entered":
                if key in adj_a:
                    parts.append(f"A 中叠加规则：{adj_a[key]}")
                elif row.uscc in why_entered:
                    s, unmet, unknown = why_entered[row.uscc]
                    parts.append(f"A 中{_STATUS[s]}" + (f"，不满足：{unmet}" if unmet else "")
                                 + (f"，缺失：{unknown}" if unknown else ""))
            else:
                for k, adj in (("A", adj_a), ("B", adj_b)):
                    if key in adj:
                        parts.append(f"{k} 中叠加规则：{adj[key]}")
                if row.status_a != row.status_b:
                    parts.append(f"缺失信息由「{row.unknown_a or '无'}」变为"
                                 f"「{row.unknown_b or '无'}」")
            reasons.append("；".join(parts) if parts else "原因未能确定")
    out = pd.DataFrame({
        "policy_id": changed["policy_id"].to_numpy(),
        "uscc": changed["uscc"].to_numpy(),
        "change": changed["change"].to_numpy(),
        "status_a": changed["status_a"].fillna("").to_numpy(),
        "status_b": changed["status_b"].fillna("").to_numpy(),
        "amount_a": [_amount(v) for v in changed["amount_a"]],
        "amount_b": [_amount(v) for v in changed["amount_b"]],
        "reason": reasons,
    })
    return out


_STATUS = {"eligible": "符合条件", "undetermined": "待核实", "ineligible": "不符合条件"}


def _amount(v: Any) -> str:
    from matcher.eligibility import format_amount

    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format_amount(v)


def summarize(diff: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per policy: how many firms entered, left, or changed amount or status."""
    out: dict[str, dict[str, int]] = {}
    for (pid, change), n in diff.groupby(["policy_id", "change"]).size().items():
        out.setdefault(str(pid), {})[str(change)] = int(n)
    return out


def diff_json(diff: pd.DataFrame) -> str:
    return json.dumps(summarize(diff), ensure_ascii=False, sort_keys=True, indent=2)

