"""Stacking rules between policies: 就高不重复 (exclusive groups) and caps per firm.

Two optional policy fields extend the contract (DATA.md §2) without changing it; they
arrive in ``Policy.extra`` and are validated here (docs/contract-extensions.md):

``exclusive_with``: list of policy ids
    The same firm may receive only one benefit of a group (就高不重复). Declarations are
    symmetric and transitive: a group is every policy connected by ``exclusive_with``.
``per_firm_cap``: number of yuan, with an optional ``cap_group``: str
    The most one firm receives from the policy; with ``cap_group``, the most it receives
    from all policies of that group together (同一企业累计不超过…). When policies of one
    group declare different caps, the strictest (smallest) applies.

How a firm's rows are ranked when something must give way: eligible before undetermined
(a certain benefit is never given up for one that may fail verification), then the higher
amount (就高), an unknown amount last, then the policy id, so the outcome never depends
on input order. Exclusive groups are applied first, then caps in that same order. Every
dropped or reduced row is reported with the rule, the kept policy and a reason in Chinese
for the confirming department.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.eligibility import Columns, format_amount
from matcher.errors import ConditionError
from matcher.policy import Policy

ADJUSTMENT_COLUMNS: tuple[str, ...] = (
    "uscc", "policy_id", "status", "rule", "action", "amount_before", "amount_after",
    "kept_policy_id", "group", "reason",
)
_STATUS_CN = {"eligible": "符合条件", "undetermined": "待核实"}


@dataclass(frozen=True)
class StackingRules:
    """Exclusive groups and caps among the policies of one run (picklable, plain data)."""

    exclusive_group: dict[str, int] = field(default_factory=dict)  # policy id -> group number
    groups: tuple[tuple[str, ...], ...] = ()  # group number -> sorted member ids
    cap: dict[str, float] = field(default_factory=dict)  # policy id -> cap (yuan)
    cap_group: dict[str, str] = field(default_factory=dict)  # policy id -> cap group name
    notes: tuple[str, ...] = ()  # declarations that name policies outside the run

    @property
    def empty(self) -> bool:
        return not self.exclusive_group and not self.cap

    def group_cap(self, name: str) -> float:
        return min(c for p, c in self.cap.items() if self.cap_group.get(p) == name)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def stacking_rules(policies: Sequence[Policy]) -> StackingRules:
    """Read and check ``exclusive_with`` / ``per_firm_cap`` / ``cap_group`` of the run's policies.

    A malformed declaration refuses the run (ConditionError naming the policy and field):
    a wrong cap would pay the wrong amount to every firm. A reference to a policy that is
    not part of this run is kept as a note in the manifest and otherwise ignored.
    """
    ids = {p.id for p in policies}
    parent = {p.id: p.id for p in policies}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    declared: set[str] = set()
    notes: list[str] = []
    cap: dict[str, float] = {}
    cap_group: dict[str, str] = {}
    for p in policies:
        ex = p.extra.get("exclusive_with")
        if ex is not None:
            if not isinstance(ex, list) or not all(isinstance(x, str) and x for x in ex):
                raise ConditionError(p.id, "exclusive_with", "expected a list of policy ids")
            for other in ex:
                if other == p.id:
                    continue
                if other not in ids:
                    notes.append(f"{p.id}: exclusive_with {other} 不在本次运行的政策中，已忽略")
                    continue
                declared.update((p.id, other))
                parent[find(p.id)] = find(other)
        c = p.extra.get("per_firm_cap")
        if c is not None:
            if not _number(c) or c < 0:
                raise ConditionError(p.id, "per_firm_cap", f"expected yuan ≥ 0, got {c!r}")
            cap[p.id] = float(c)
        g = p.extra.get("cap_group")
        if g is not None:
            if not isinstance(g, str) or not g.strip():
                raise ConditionError(p.id, "cap_group", "expected a non-empty name")
            if c is None:
                raise ConditionError(p.id, "cap_group", "a cap_group needs per_firm_cap")
            cap_group[p.id] = g.strip()
    members: dict[str, list[str]] = {}
    for pid in sorted(declared):
        members.setdefault(find(pid), []).append(pid)
    groups = tuple(sorted(tuple(sorted(m)) for m in members.values()))
    exclusive = {pid: k for k, g in enumerate(groups) for pid in g}
    return StackingRules(exclusive, groups, cap, cap_group, tuple(notes))


def _amount_values(amount: pd.Series) -> np.ndarray:
    return pd.to_numeric(amount.replace("", np.nan), errors="coerce").to_numpy(dtype=np.float64)


def _rank(table: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Row order within a firm: eligible first, higher amount, unknown amount last, id."""
    key = pd.DataFrame({
        "uscc": table[Columns.USCC].to_numpy(),
        "s": (table[Columns.STATUS].to_numpy() != "eligible").astype(np.int8),
        "nan": np.isnan(values),
        "neg": -np.nan_to_num(values, nan=0.0),
        "pid": table[Columns.POLICY_ID].to_numpy(),
    })
    return np.lexsort((key["pid"], key["neg"], key["nan"], key["s"], key["uscc"]))


def _yuan(v: float) -> str:
    return "金额未知" if math.isnan(v) else f"{format_amount(v)}元"


def apply_stacking(table: pd.DataFrame, rules: StackingRules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table after the rules, adjustments explaining each dropped or reduced row).

    ``table`` is an eligibility table (DATA.md §5) holding every listed row of each of its
    firms — the rules look at all of one firm's rows at once, which a chunk of firms has.
    """
    empty_adj = pd.DataFrame({c: pd.Series(dtype=object) for c in ADJUSTMENT_COLUMNS})
    if rules.empty or table.empty:
        return table, empty_adj
    table = table.reset_index(drop=True)
    values = _amount_values(table[Columns.AMOUNT])
    order = _rank(table, values)
    uscc = table[Columns.USCC].to_numpy(dtype=object)
    pid = table[Columns.POLICY_ID].to_numpy(dtype=object)
    status = table[Columns.STATUS].to_numpy(dtype=object)
    drop = np.zeros(len(table), dtype=bool)
    new_amount = values.copy()
    adjustments: list[dict[str, object]] = []

    group = np.array([rules.exclusive_group.get(p, -1) for p in pid], dtype=np.int64)
    if (group >= 0).any():
        kept: dict[tuple[str, int], int] = {}
        for i in order[group[order] >= 0]:
            key = (uscc[i], int(group[i]))
            if key not in kept:
                kept[key] = int(i)
                continue
            k = kept[key]
            members = "、".join(rules.groups[group[i]])
            if status[k] == "eligible" and status[i] != "eligible":
                why = "已确认符合条件"
            elif values[k] == values[i] or (np.isnan(values[k]) and np.isnan(values[i])):
                why = "金额相同、政策编号在前"
            else:
                why = "金额较高"
            drop[i] = True
            adjustments.append({
                "uscc": uscc[i], "policy_id": pid[i], "status": status[i],
                "rule": "exclusive_with", "action": "dropped",
                "amount_before": format_amount(values[i]), "amount_after": "",
                "kept_policy_id": pid[k], "group": members,
                "reason": (
                    f"就高不重复：{pid[i]} 与 {pid[k]} 同属互斥政策组（{members}），同一企业只享受"
                    f"其一；保留{why}的 {pid[k]}（{_STATUS_CN[status[k]]}，{_yuan(values[k])}），"
                    f"本项（{_yuan(values[i])}）不重复享受"
                ),
            })

    capped = np.array([p in rules.cap for p in pid], dtype=bool) & ~drop & ~np.isnan(values)
    if capped.any():
        used: dict[tuple[str, str], float] = {}
        for i in order[capped[order]]:
            name = rules.cap_group.get(pid[i])
            limit = rules.group_cap(name) if name else rules.cap[pid[i]]
            slot = (uscc[i], name or pid[i])
            before = used.get(slot, 0.0)
            allowed = max(0.0, min(values[i], limit - before))
            used[slot] = before + allowed
            if allowed >= values[i]:
                continue
            action = "dropped" if allowed <= 0 else "reduced"
            tail = ("本项不再发放" if allowed <= 0
                    else f"本项由{_yuan(values[i])}调减为{_yuan(allowed)}")
            if name:
                rule_text = (f"单户上限：上限组 {name} 同一企业合计不超过{_yuan(limit)}，"
                             f"此前已计{_yuan(before)}，{tail}")
            else:
                rule_text = f"单户上限：{pid[i]} 同一企业最高{_yuan(limit)}，{tail}"
            drop[i] = allowed <= 0
            new_amount[i] = allowed
            adjustments.append({
                "uscc": uscc[i], "policy_id": pid[i], "status": status[i],
                "rule": "per_firm_cap", "action": action,
                "amount_before": format_amount(values[i]),
                "amount_after": "" if allowed <= 0 else format_amount(allowed),
                "kept_policy_id": "", "group": name or "",
                "reason": rule_text,
            })
    out = table.copy()
    changed = ~np.isnan(values) & (new_amount != values) & ~drop
    if changed.any():
        amounts = out[Columns.AMOUNT].to_numpy(dtype=object).copy()
        for i in np.flatnonzero(changed):
            amounts[i] = format_amount(new_amount[i])
        out[Columns.AMOUNT] = amounts
    out = out[~drop].reset_index(drop=True)
    adj = pd.DataFrame(adjustments, columns=list(ADJUSTMENT_COLUMNS)) if adjustments else empty_adj
    return out, adj
