"""Why a policy is recommended, and what small change would make a near miss qualify.

Built from per-leaf truth values (``matcher.eligibility.leaf_matrix``) and the firm's
numbers. Three lists come from the tree's Kleene values:

* ``met`` — the requirements that the firm's data satisfy and that carry the verdict
  (an ``any`` contributes only the alternative that holds);
* ``unmet`` — the requirements that fail (``matcher.explain.blamed_leaves``);
* ``unknown`` — the requirements left open, with ``missing`` naming the profile fields
  whose absence keeps them open (an ``unmapped`` requirement has no field: a reviewer
  decides it).

For an ineligible policy, :func:`smallest_change` searches the tree for the cheapest set
of *attainable* numeric changes that lifts the verdict off ``false``: an ``all`` needs
every child repaired (costs add), an ``any`` its cheapest child, and ``not`` turns the
search around. Attainable means more of something a firm can grow — R&D spending and
staff, patents, revenue, months of insurance, years since founding — or a lower layoff
rate; a region, an industry, a size ceiling or a missing qualification is not a "small
change". The cost of a change is its gap relative to the threshold (2.4 % → 3 % costs
0.2), and the text says what to do in the firm's own figures: "研发投入占比2.4%，达到3%
（再投入约¥120万）即可申报". Changes to two leaves are estimated independently (raising
R&D spending also raises the R&D ratio; the estimate does not credit that).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.explain import blamed_leaves, describe
from matcher.logic import FALSE, TRUE, UNKNOWN

INF = float("inf")

# Fields a firm can raise, with how a reader names them and their unit.
_LABELS: dict[str, str] = {
    "rd_ratio": "研发投入占比",
    "rd_expense": "研发费用",
    "rd_increase": "新增研发投入",
    "rd_staff_ratio": "科技人员占比",
    "high_tech_revenue_ratio": "高新技术产品收入占比",
    "invention_patents": "有效发明专利",
    "utility_patents": "实用新型专利",
    "software_copyrights": "软件著作权",
    "employees": "从业人员",
    "revenue": "营业收入",
    "total_assets": "资产总额",
    "tax_paid": "纳税总额",
    "export_value": "出口额",
    "registered_capital": "注册资本",
    "unemployment_insurance_months": "连续缴纳失业保险",
    "age_years": "成立",
    "layoff_rate": "裁员率",
}
RAISABLE: frozenset[str] = frozenset(_LABELS) - {"layoff_rate"}
LOWERABLE: frozenset[str] = frozenset({"layoff_rate"})
_RATIOS = frozenset({"rd_ratio", "rd_staff_ratio", "high_tech_revenue_ratio", "layoff_rate"})
_COUNTS = {"invention_patents": "件", "utility_patents": "件", "software_copyrights": "件",
           "employees": "人", "unemployment_insurance_months": "个月", "age_years": "年"}


@dataclass(frozen=True)
class FirmFigures:
    """The firm's numbers that change texts quote (yuan, fractions; NaN unknown)."""

    values: dict[str, float]
    established_on: dt.date | None = None

    def get(self, field: str) -> float:
        v = self.values.get(field, math.nan)
        return float(v) if v is not None else math.nan


@dataclass(frozen=True)
class Change:
    """One requirement the firm could meet, what it takes, and its relative cost."""

    leaf: Criterion
    text: str
    cost: float


def _pct(x: float) -> str:
    s = f"{x * 100:.2f}".rstrip("0").rstrip(".")
    return f"{s}%"


def _money(x: float) -> str:
    """¥ with 万/亿 as Chinese readers write money (rounded up: never understate a need)."""
    def up(v: float) -> int:
        return math.ceil(round(v, 6))  # 1200000.0000000002 is 120万, not 120.1万

    if x >= 1e8:
        return f"¥{up(x / 1e6) / 100:g}亿"
    if x >= 1e4:
        return f"¥{up(x / 1e3) / 10:g}万"
    return f"¥{up(x):,}"


def _add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year: the month's last day (民法典)
        return d.replace(year=d.year + years, day=28)


def leaf_change(leaf: Criterion, firm: FirmFigures) -> Change | None:
    """The change that makes one failing numeric leaf true, or None if not attainable."""
    field, op = leaf.field, leaf.op
    if not attainable(leaf):
        return None
    if not isinstance(leaf.value, int | float) or isinstance(leaf.value, bool):
        return None
    cur, bound = firm.get(field), float(leaf.value)
    if math.isnan(cur):
        return None
    label = _LABELS.get(field)
    if label is None:
        return None
    if field in RAISABLE and op in (">=", ">"):
        integer = field in _COUNTS
        target = bound + 1 if (op == ">" and integer) else bound
        if target <= cur:
            return None
        cost = (target - cur) / abs(target) if target else INF
        verb = "超过" if (op == ">" and not integer) else ("满" if field in (
            "age_years", "unemployment_insurance_months") else "达到")
        return Change(leaf, _raise_text(field, label, cur, target, verb, firm), cost)
    if field in LOWERABLE and op in ("<=", "<"):
        if cur <= bound and not (op == "<" and cur == bound):
            return None
        cost = (cur - bound) / max(cur, 1e-9)
        verb = "降至" if op == "<=" else "降至低于"
        return Change(leaf, f"{label}{_pct(cur)}，{verb}{_pct(bound)}", cost)
    return None


def _raise_text(
    field: str, label: str, cur: float, target: float, verb: str, firm: FirmFigures
) -> str:
    if field in _RATIOS:
        text = f"{label}{_pct(cur)}，{verb}{_pct(target)}"
        if field == "rd_ratio":
            revenue = firm.get("revenue")
            if revenue > 0:
                text += f"（再投入约{_money((target - cur) * revenue)}）"
        elif field == "rd_staff_ratio":
            staff = firm.get("employees")
            if staff > 0 and target < 1:
                extra = math.ceil((target - cur) * staff / (1 - target) - 1e-9)
                text += f"（约再增加{max(extra, 1)}名科技人员）"
        return text
    if field in _COUNTS:
        unit = _COUNTS[field]
        text = f"{label}{int(cur)}{unit}，{verb}{int(target)}{unit}"
        if field == "age_years" and firm.established_on is not None:
            text += f"（{_add_years(firm.established_on, int(target)).isoformat()}起）"
        elif field == "unemployment_insurance_months":
            text += f"（还需{int(target - cur)}个月）"
        return text
    more = "研发费用再增加约" if field == "rd_increase" else (
        "再投入约" if field == "rd_expense" else "再增加约")
    return f"{label}{_money(cur)}，{verb}{_money(target)}（{more}{_money(target - cur)}）"


def tree_value(node: Condition, values: dict[int, int]) -> int:
    """Kleene value of a tree from its leaves' values (keyed by ``id(leaf)``)."""
    if isinstance(node, Criterion):
        return values[id(node)]
    if isinstance(node, Not):
        return TRUE - tree_value(node.child, values)
    vals = [tree_value(c, values) for c in node.children]
    return min(vals) if isinstance(node, AllOf) else max(vals)


def met_leaves(node: Condition, values: dict[int, int], positive: bool = True) -> list[Criterion]:
    """Leaves whose values carry the node towards true (``positive``) or false."""
    if isinstance(node, Criterion):
        want = TRUE if positive else FALSE
        return [node] if values[id(node)] == want else []
    if isinstance(node, Not):
        return met_leaves(node.child, values, not positive)
    assert isinstance(node, AllOf | AnyOf)
    conj = isinstance(node, AllOf) == positive  # every child counts (all→true, any→false)
    want = TRUE if positive else FALSE
    out: list[Criterion] = []
    for child in node.children:
        if conj or tree_value(child, values) == want:
            out.extend(met_leaves(child, values, positive))
    return out


def _repair(
    node: Condition, values: dict[int, int], firm: FirmFigures, lift: bool
) -> tuple[float, list[Change]]:
    """Cheapest changes making ``node`` not false (``lift``) or not true (``not lift``)."""
    if isinstance(node, Criterion):
        v = values[id(node)]
        if lift:
            if v != FALSE:
                return 0.0, []
            change = leaf_change(node, firm)
            return (change.cost, [change]) if change else (INF, [])
        return (0.0, []) if v != TRUE else (INF, [])
    if isinstance(node, Not):
        return _repair(node.child, values, firm, not lift)
    assert isinstance(node, AllOf | AnyOf)
    if isinstance(node, AllOf) == lift:  # every child must move
        total, changes = 0.0, []
        for child in node.children:
            cost, more = _repair(child, values, firm, lift)
            if cost == INF:
                return INF, []  # one immovable child fixes the verdict
            total += cost
            changes.extend(more)
        return total, changes
    parts = [_repair(c, values, firm, lift) for c in node.children]
    return min(parts, key=lambda p: (p[0], len(p[1])))


def attainable(leaf: Criterion) -> bool:
    """Whether some change of the firm's figures could make a false ``leaf`` true."""
    return (leaf.field in RAISABLE and leaf.op in (">=", ">")) or (
        leaf.field in LOWERABLE and leaf.op in ("<=", "<")
    )


def _movable(node: Condition, values: dict[int, int], lift: bool) -> bool:
    """:func:`_repair` without costs: does any attainable change lift the verdict?"""
    if isinstance(node, Criterion):
        v = values[id(node)]
        if lift:
            return v != FALSE or attainable(node)
        return v != TRUE
    if isinstance(node, Not):
        return _movable(node.child, values, not lift)
    assert isinstance(node, AllOf | AnyOf)
    if isinstance(node, AllOf) == lift:
        return all(_movable(c, values, lift) for c in node.children)
    return any(_movable(c, values, lift) for c in node.children)


def repairable(
    root: Condition | None, leaves: Sequence[Criterion], leaf_values: Sequence[int]
) -> bool:
    """Whether :func:`smallest_change` can find anything, from leaf values alone.

    It depends only on which leaves are false, so callers cache it per pattern and run
    the costed search only where it can succeed.
    """
    if root is None:
        return False
    values = {id(leaf): int(v) for leaf, v in zip(leaves, leaf_values, strict=True)}
    return _movable(root, values, True)


def smallest_change(
    root: Condition | None, leaves: Sequence[Criterion], leaf_values: Sequence[int],
    firm: FirmFigures,
) -> tuple[float, list[Change], int]:
    """(total relative cost, changes, verdict after them) for a failing tree.

    The cost is infinite when no attainable change lifts the verdict.
    """
    if root is None:
        return INF, [], FALSE
    values = {id(leaf): int(v) for leaf, v in zip(leaves, leaf_values, strict=True)}
    cost, changes = _repair(root, values, firm, True)
    if cost == INF or not changes:
        return INF, [], FALSE
    after = dict(values)
    for c in changes:
        after[id(c.leaf)] = TRUE
    return cost, changes, tree_value(root, after)


def change_sentence(changes: Sequence[Change], verdict_after: int) -> str:
    """One sentence: the changes, then what they achieve."""
    body = "；".join(dict.fromkeys(c.text for c in changes))
    return body + ("即可申报" if verdict_after == TRUE else "，其余条件待核实后可申报")


def reasons(
    root: Condition | None, leaves: Sequence[Criterion], leaf_values: Sequence[int]
) -> dict[str, list[str]]:
    """``met``, ``unmet``, ``unknown`` (requirement texts) and ``missing`` (field names)."""
    if root is None:
        return {"met": [], "unmet": [], "unknown": [], "missing": []}
    values = {id(leaf): int(v) for leaf, v in zip(leaves, leaf_values, strict=True)}
    verdict = tree_value(root, values)
    met = met_leaves(root, values)
    failed, unknown = blamed_leaves(root, leaves, leaf_values)
    if verdict == FALSE:
        # An ineligible firm is also told what is still open, so a near miss lists it.
        unknown = [leaf for leaf in leaves if values[id(leaf)] == UNKNOWN]
    return {
        "met": _texts(met),
        "unmet": _texts(failed),
        "unknown": _texts(unknown),
        "missing": list(dict.fromkeys(
            leaf.field for leaf in unknown if leaf.field != "unmapped")),
    }


def _texts(leaves: Sequence[Criterion]) -> list[str]:
    return list(dict.fromkeys(t for t in (describe(leaf) for leaf in leaves) if t))
