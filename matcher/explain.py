"""Why a firm is ineligible or undetermined: blame the leaves that decide the verdict.

Blame follows Kleene logic top-down: a false ``all`` blames its false children, a false
``any`` blames every child, ``not`` flips what it looks for. So ``unmet`` lists only the
requirements that actually fail the firm (not an alternative it did not need), and
``unknown`` only the missing data that keeps the verdict open.
"""

from __future__ import annotations

from collections.abc import Sequence

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.logic import FALSE, TRUE, UNKNOWN


def leaf_values(n_leaves: int, fmask: int, umask: int) -> list[int]:
    """Per-leaf truth from the kernel's bit masks (a leaf in neither mask was true)."""
    out = []
    for k in range(n_leaves):
        bit = 1 << k
        out.append(FALSE if fmask & bit else UNKNOWN if umask & bit else TRUE)
    return out


def node_value(node: Condition, values: dict[int, int]) -> int:
    if isinstance(node, Criterion):
        return values[id(node)]
    if isinstance(node, Not):
        return TRUE - node_value(node.child, values)
    vals = [node_value(c, values) for c in node.children]
    return min(vals) if isinstance(node, AllOf) else max(vals)


def _blame(node: Condition, target: int, values: dict[int, int], out: list[Criterion]) -> None:
    if isinstance(node, Criterion):
        if values[id(node)] == target:
            out.append(node)
        return
    if isinstance(node, Not):
        _blame(node.child, TRUE - target, values, out)
        return
    every = (isinstance(node, AllOf) and target == TRUE) or (
        isinstance(node, AnyOf) and target == FALSE
    )
    for child in node.children:
        if every or node_value(child, values) == target:
            _blame(child, target, values, out)


def blamed_leaves(
    root: Condition, leaves: Sequence[Criterion], values: Sequence[int]
) -> tuple[list[Criterion], list[Criterion]]:
    """(leaves that fail the firm, leaves whose unknown value leaves the verdict open)."""
    by_id = {id(leaf): v for leaf, v in zip(leaves, values, strict=True)}
    verdict = node_value(root, by_id)
    failed: list[Criterion] = []
    unknown: list[Criterion] = []
    if verdict == FALSE:
        _blame(root, FALSE, by_id, failed)
    elif verdict == UNKNOWN:
        _blame(root, UNKNOWN, by_id, unknown)
    return failed, unknown


def describe(leaf: Criterion) -> str:
    """The leaf's policy text, or a readable rendering when it has none."""
    if leaf.source:
        return leaf.source
    return f"{leaf.field} {leaf.op} {leaf.value}"


def join_unique(items: Sequence[str]) -> str:
    """Join with `` | `` (DATA.md §5), first occurrence order, no repeats."""
    return " | ".join(dict.fromkeys(i for i in items if i))


def reasons(
    root: Condition | None, leaves: Sequence[Criterion], values: Sequence[int]
) -> tuple[str, str]:
    """``unmet`` (source texts) and ``unknown`` (field names) strings for one verdict."""
    if root is None:
        return "", ""
    failed, unknown = blamed_leaves(root, leaves, values)
    return (
        join_unique([describe(leaf) for leaf in failed]),
        join_unique([leaf.field for leaf in unknown]),
    )
