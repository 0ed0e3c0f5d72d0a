"""A slow, obviously-correct per-firm evaluator: the oracle for the compiled kernel.

It reads one derived firm record (a dict) and walks the tree with Python values, following
DATA.md §3 literally. It shares nothing with ``matcher.encode``/``compile``/``kernel``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.fields import FIELDS, QUALIFICATIONS

F, U, T = 0, 1, 2


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and math.isnan(v)


def leaf(firm: dict[str, Any], c: Criterion) -> int:
    spec = FIELDS[c.field]
    if spec.kind == "unmapped":
        return U
    if c.field == "qualifications":
        mask = firm.get("qualification_mask")
        if mask is None or mask < 0:
            return U
        has = bool(mask >> QUALIFICATIONS.index(c.value) & 1)
        return T if has == (c.op == "has") else F
    v = firm.get(c.field)
    if c.field == "tags":
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return U
        return T if (c.value in v) == (c.op == "has") else F
    if _missing(v):
        return U
    op, want = c.op, c.value
    if spec.kind == "prefix" and op in ("in", "not_in"):
        hit = any(str(v).startswith(p) for p in want)
        # A bare section letter (DATA.md §1) may or may not lie in a finer listed group.
        if not hit and c.field == "industry_code" and any(
            len(p) > len(str(v)) and p.startswith(str(v)) for p in want
        ):
            return U
        return T if hit == (op == "in") else F
    if spec.kind == "number":
        v = float(v)
    if spec.kind == "bool":
        v = bool(v)
    if spec.kind == "date":
        v = dt.date.fromisoformat(str(v)[:10]).isoformat()
    if spec.kind in ("prefix", "text", "category"):
        v = str(v)
    if op == "in":
        return T if v in want else F
    if op == "not_in":
        return T if v not in want else F
    if spec.order is not None and op in (">=", ">", "<=", "<"):
        v, want = spec.order.index(v), spec.order.index(want)
    result = {
        ">=": lambda: v >= want, ">": lambda: v > want, "<=": lambda: v <= want,
        "<": lambda: v < want, "==": lambda: v == want, "!=": lambda: v != want,
    }[op]()
    return T if result else F


def evaluate(firm: dict[str, Any], node: Condition | None) -> int:
    if node is None:
        return T
    if isinstance(node, Criterion):
        return leaf(firm, node)
    if isinstance(node, Not):
        return {F: T, U: U, T: F}[evaluate(firm, node.child)]
    values = [evaluate(firm, c) for c in node.children]
    if isinstance(node, AllOf):
        return F if F in values else U if U in values else T
    assert isinstance(node, AnyOf)
    return T if T in values else U if U in values else F
