"""How well parsed policies match hand-made gold policies: leaf precision, recall, F1.

A predicted leaf matches a gold leaf when field, operator and value agree: lists as sets,
numbers within 0.5 % (the gold writes 0.055 where a parser may compute 0.05500000001),
everything else exactly. The tree shape is not scored (all[A, any[B, C]] and its
reorderings mean the same), nor the ``source`` text. Matching is one-to-one, so two
``unmapped`` predictions for one gold ``unmapped`` count one hit and one false alarm.

Conditions are scored (the hard rules decide eligibility); benefits and dates are
reported beside them. All functions are pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

REL_TOL = 0.005


def condition_leaves(node: Any) -> Iterator[dict[str, Any]]:
    """Leaves of a JSON condition tree, in document order."""
    if node is None:
        return
    if isinstance(node, dict):
        if "field" in node:
            yield node
            return
        for key in ("all", "any"):
            for child in node.get(key, []) or []:
                yield from condition_leaves(child)
        if "not" in node:
            yield from condition_leaves(node["not"])


def values_equal(a: Any, b: Any) -> bool:
    """Equal as the metric defines it (lists as sets, numbers within 0.5 %)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        if a == b:
            return True
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return {_hashable(x) for x in a} == {_hashable(x) for x in b}
    return bool(a == b)


def _hashable(x: Any) -> Any:
    return tuple(x) if isinstance(x, list) else x


def leaves_match(pred: Mapping[str, Any], gold: Mapping[str, Any]) -> bool:
    return (pred.get("field") == gold.get("field") and pred.get("op") == gold.get("op")
            and values_equal(pred.get("value"), gold.get("value")))


@dataclass(frozen=True)
class Counts:
    """True positives, false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


Items = list[Mapping[str, Any]]


def match_counts(pred: Iterable[Mapping[str, Any]], gold: Iterable[Mapping[str, Any]],
                 same: Any = leaves_match) -> tuple[Counts, Items, Items]:
    """One-to-one matching; returns counts, unmatched predictions, unmatched gold items."""
    remaining = list(pred)
    missed: list[Mapping[str, Any]] = []
    tp = 0
    for g in gold:
        for i, p in enumerate(remaining):
            if same(p, g):
                del remaining[i]
                tp += 1
                break
        else:
            missed.append(g)
    return Counts(tp, len(remaining), len(missed)), remaining, missed


def benefits_match(pred: Mapping[str, Any], gold: Mapping[str, Any]) -> bool:
    """Same kind, and the same amount or rate (within 0.5 %) when the gold states one."""
    if pred.get("kind") != gold.get("kind"):
        return False
    for key in ("amount", "rate"):
        g = gold.get(key)
        if g is not None and not values_equal(pred.get(key), g):
            return False
    return not (gold.get("amount") is None and gold.get("rate") is None
                and (pred.get("amount") is not None or pred.get("rate") is not None)
                and False)


@dataclass
class PolicyScore:
    """One policy: leaf counts, mode and dates agreement, benefit counts, misses."""

    id: str
    leaves: Counts
    mode_ok: bool
    dates_ok: int
    benefits: Counts
    false_leaves: Sequence[Mapping[str, Any]] = field(default_factory=list)
    missed_leaves: Sequence[Mapping[str, Any]] = field(default_factory=list)
    parsed: bool = True


@dataclass
class Report:
    """Totals over the corpus (micro-averaged: every leaf counts once)."""

    policies: list[PolicyScore]

    @property
    def leaves(self) -> Counts:
        return sum((p.leaves for p in self.policies), Counts())

    @property
    def benefits(self) -> Counts:
        return sum((p.benefits for p in self.policies), Counts())

    @property
    def mode_accuracy(self) -> float:
        return sum(p.mode_ok for p in self.policies) / len(self.policies) if self.policies else 1.0

    @property
    def date_accuracy(self) -> float:
        n = 3 * len(self.policies)
        return sum(p.dates_ok for p in self.policies) / n if n else 1.0

    def to_json(self) -> dict[str, Any]:
        lc, bc = self.leaves, self.benefits
        return {
            "policies": len(self.policies),
            "leaves": {"tp": lc.tp, "fp": lc.fp, "fn": lc.fn, "precision": round(lc.precision, 4),
                       "recall": round(lc.recall, 4), "f1": round(lc.f1, 4)},
            "mode_accuracy": round(self.mode_accuracy, 4),
            "date_accuracy": round(self.date_accuracy, 4),
            "benefits": {"tp": bc.tp, "fp": bc.fp, "fn": bc.fn,
                         "precision": round(bc.precision, 4), "recall": round(bc.recall, 4),
                         "f1": round(bc.f1, 4)},
            "per_policy": [
                {"id": p.id, "parsed": p.parsed, "tp": p.leaves.tp, "fp": p.leaves.fp,
                 "fn": p.leaves.fn, "f1": round(p.leaves.f1, 4), "mode_ok": p.mode_ok}
                for p in self.policies
            ],
        }


def score_policy(pred: Mapping[str, Any] | None, gold: Mapping[str, Any]) -> PolicyScore:
    """Compare one parsed policy (None: not parsed) with its gold policy."""
    gold_leaves = list(condition_leaves(gold.get("conditions")))
    gold_benefits = list(gold.get("benefits") or [])
    if pred is None:
        return PolicyScore(str(gold.get("id")), Counts(0, 0, len(gold_leaves)), False, 0,
                           Counts(0, 0, len(gold_benefits)), [], gold_leaves, parsed=False)
    counts, fps, fns = match_counts(condition_leaves(pred.get("conditions")), gold_leaves)
    bcounts, _, _ = match_counts(pred.get("benefits") or [], gold_benefits, benefits_match)
    dates_ok = sum(pred.get(k) == gold.get(k) for k in ("issued_on", "valid_from", "valid_until"))
    return PolicyScore(str(gold.get("id")), counts, pred.get("mode") == gold.get("mode"),
                       dates_ok, bcounts, fps, fns)


def evaluate(predicted: Mapping[str, Mapping[str, Any] | None],
             gold: Iterable[Mapping[str, Any]]) -> Report:
    """Score every gold policy against the prediction with the same ``id``."""
    return Report([score_policy(predicted.get(str(g.get("id"))), g) for g in gold])
