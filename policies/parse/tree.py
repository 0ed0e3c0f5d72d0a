"""Condition trees while parsing: leaves with spans, and the simplifications the law allows.

A parsed tree is built from many small findings; before it is written out it is made
minimal without changing its meaning (three-valued logic, DATA.md §3):

- duplicates go (a rule repeated in a definition and in a list is one rule),
- ``all[X, any[X, Y]]`` is ``X`` (absorption), and in an ``any`` of award targets a
  branch that only adds conditions to a target already eligible on its own goes too,
- of two lower bounds on one field in an ``all`` the stronger stays,
- an ``any`` whose children are all ``unmapped`` is one ``unmapped`` leaf (any of
  unknowns is unknown: one review item says the same),
- ``any[all[A, X], all[B, X]]`` is ``all[any[A, B], X]`` (one X, as the text means it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Leaf:
    """``field op value`` with the span ``[start, end)`` of the text it was read from.

    ``key`` groups leaves that mean the same thing even when their source differs (an
    unmapped qualification such as 潜在瞪羚 keeps its name there); ``from_range`` marks
    the lower end of a ``X至Y`` range, whose inclusion a tier list may settle.
    """

    field: str
    op: str
    value: Any
    start: int
    end: int
    key: str = ""
    from_range: bool = False

    @property
    def unmapped(self) -> bool:
        return self.field == "unmapped"

    def ident(self) -> tuple[Any, ...]:
        if self.unmapped:
            return ("unmapped", self.key or (self.start, self.end))
        v = tuple(self.value) if isinstance(self.value, list) else self.value
        return (self.field, self.op, v)


@dataclass
class Group:
    """``all`` or ``any`` of children; ``span`` is the text the group as a whole came from."""

    kind: Literal["all", "any"]
    children: list[Node] = field(default_factory=list)
    span: tuple[int, int] | None = None


Node = Leaf | Group


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    out: list[Leaf] = []
    for c in node.children:
        out.extend(leaves(c))
    return out


def make(kind: Literal["all", "any"], children: Sequence[Node | None],
         span: tuple[int, int] | None = None) -> Node | None:
    """A group of the non-empty children; a single child stands for itself."""
    kids = [c for c in children if c is not None]
    if not kids:
        return None
    if len(kids) == 1:
        return kids[0]
    return Group(kind, kids, span)


def negate(node: Node) -> Node:
    """The exclusion of ``node`` (不再推荐 …): has → not_has, in → not_in, == b → == not b.

    An exclusion list excludes each entry, so ``any`` becomes ``all`` (De Morgan);
    unmapped leaves stay unmapped (their review covers the exclusion).
    """
    if isinstance(node, Group):
        kind: Literal["all", "any"] = "all" if node.kind == "any" else "any"
        return Group(kind, [negate(c) for c in node.children], node.span)
    flip = {"has": "not_has", "not_has": "has", "in": "not_in", "not_in": "in",
            ">=": "<", "<": ">=", "<=": ">", ">": "<="}
    if node.unmapped:
        return node
    if node.op in flip:
        return Leaf(node.field, flip[node.op], node.value, node.start, node.end, node.key)
    if node.op == "==" and isinstance(node.value, bool):
        return Leaf(node.field, "==", not node.value, node.start, node.end, node.key)
    return node


def flatten(node: Node | None) -> Node | None:
    """Nested groups of the same kind merged; single children lifted."""
    if node is None or isinstance(node, Leaf):
        return node
    kids: list[Node] = []
    for c in node.children:
        fc = flatten(c)
        if fc is None:
            continue
        if isinstance(fc, Group) and fc.kind == node.kind:
            kids.extend(fc.children)
        else:
            kids.append(fc)
    return make(node.kind, kids, node.span)


def dedupe(node: Node | None, known: frozenset[tuple[Any, ...]] = frozenset()) -> Node | None:
    """Drop repeated leaves; ``known`` holds leaves already required by an ``all`` above."""
    if node is None:
        return None
    if isinstance(node, Leaf):
        return None if node.ident() in known else node
    if node.kind == "all":
        seen = set(known)
        direct: list[Node] = []
        for c in node.children:
            if isinstance(c, Leaf):
                if c.ident() in seen:
                    continue
                seen.add(c.ident())
                direct.append(c)
            else:
                direct.append(c)
        out: list[Node] = []
        for c in direct:
            if isinstance(c, Group) and c.kind == "any" and any(
                isinstance(g, Leaf) and g.ident() in seen for g in c.children
            ):
                continue  # all[X, any[X, Y]] = X
            if isinstance(c, Group):
                d = dedupe(c, frozenset(seen))
                if d is not None:
                    out.append(d)
            else:
                out.append(c)
        return make("all", out, node.span)
    seen_any: set[tuple[Any, ...]] = set()
    kids: list[Node] = []
    for c in node.children:
        if isinstance(c, Leaf):
            if c.ident() in known:
                return None  # any[X, …] with X already required is true whenever X is
            if c.ident() in seen_any:
                continue
            seen_any.add(c.ident())
            kids.append(c)
        else:
            d = dedupe(c, known)
            if d is not None:
                kids.append(d)
    return make("any", kids, node.span)


def strongest_bounds(node: Node | None) -> Node | None:
    """In an ``all``, of two lower (or two upper) bounds on one field keep the stronger."""
    if node is None or isinstance(node, Leaf):
        return node
    kids = [strongest_bounds(c) for c in node.children]
    kids = [k for k in kids if k is not None]
    if node.kind == "all":
        drop: set[int] = set()
        for i, a in enumerate(kids):
            for j, b in enumerate(kids):
                if i == j or not isinstance(a, Leaf) or not isinstance(b, Leaf):
                    continue
                if a.field != b.field or a.unmapped or not _num(a.value) or not _num(b.value):
                    continue
                if a.op in (">", ">=") and b.op in (">", ">=") and _stronger_low(b, a):
                    drop.add(i)
                if a.op in ("<", "<=") and b.op in ("<", "<=") and _stronger_high(b, a):
                    drop.add(i)
        kids = [k for i, k in enumerate(kids) if i not in drop]
    return make(node.kind, kids, node.span)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _stronger_low(b: Leaf, a: Leaf) -> bool:
    """``b`` implies ``a`` for lower bounds (and they differ)."""
    if b.value > a.value:
        return True
    return b.value == a.value and b.op == ">" and a.op == ">="


def _stronger_high(b: Leaf, a: Leaf) -> bool:
    if b.value < a.value:
        return True
    return b.value == a.value and b.op == "<" and a.op == "<="


def collapse_unmapped(node: Node | None, inside_any: bool = False) -> Node | None:
    """An ``any`` of nothing but unmapped leaves is one unmapped leaf (its span or first).

    An ``all`` of unmapped leaves that is itself an alternative collapses too (each
    alternative is one review item); a top-level ``all`` keeps its requirements apart.
    """
    if node is None or isinstance(node, Leaf):
        return node
    kids = [collapse_unmapped(c, node.kind == "any") for c in node.children]
    kids = [k for k in kids if k is not None]
    only_unmapped = bool(kids) and all(isinstance(k, Leaf) and k.unmapped for k in kids)
    if only_unmapped and (node.kind == "any" or inside_any):
        s, e = node.span if node.span else (kids[0].start, kids[-1].end)  # type: ignore[union-attr]
        return Leaf("unmapped", "review", None, s, e)
    return make(node.kind, kids, node.span)


def factor_common(node: Node | None) -> Node | None:
    """``any[all[A, X], all[B, X]]`` → ``all[any[A, B], X]`` when every branch has X."""
    if node is None or isinstance(node, Leaf) or node.kind != "any" or len(node.children) < 2:
        return node
    branches = [c.children if isinstance(c, Group) and c.kind == "all" else [c]
                for c in node.children]
    common = [lf for lf in branches[0] if isinstance(lf, Leaf) and not lf.unmapped and all(
        any(isinstance(o, Leaf) and o.ident() == lf.ident() for o in br) for br in branches[1:])]
    if not common:
        return node
    ids = {c.ident() for c in common}
    rest: list[Node] = []
    for br in branches:
        left = [c for c in br if not (isinstance(c, Leaf) and c.ident() in ids)]
        if not left:
            return make("all", list(common))  # one branch is just X: the any is X
        rest.append(make("all", left))  # type: ignore[arg-type]
    return make("all", [make("any", rest), *common])  # type: ignore[list-item]


def simplify(node: Node | None) -> Node | None:
    """Every simplification above, to a fixed point."""
    for _ in range(4):
        before = to_json(node, "") if node is not None else None
        node = flatten(node)
        node = dedupe(node)
        node = strongest_bounds(node)
        node = collapse_unmapped(node)
        node = flatten(factor_common(node))
        if (to_json(node, "") if node is not None else None) == before:
            break
    return node


def to_json(node: Node | None, text: str) -> dict[str, Any] | None:
    """DATA.md §3 form; ``source`` is the leaf's span of ``text``."""
    if node is None:
        return None
    if isinstance(node, Leaf):
        return {"field": node.field, "op": node.op, "value": node.value,
                "source": text[node.start:node.end].strip() if text else f"{node.start}:{node.end}"}
    return {node.kind: [to_json(c, text) for c in node.children]}
