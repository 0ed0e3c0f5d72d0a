"""Numbered lists inside a part of a policy: (一)…(八), 1. 2. 3., A、B、C、, 一是/二是.

Eligibility rules are lists, often nested: 高企 condition (二) holds A、B、C alternatives,
condition (五) holds three revenue tiers. The outline keeps that nesting, because the
header of a list says how its items combine (同时满足以下条件 → all; 达到下列其中一项 →
any; 符合如下要求 with one tier per item → any of tiers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CN = "一二三四五六七八九十"
# (pattern, rank): a smaller rank is a higher level.
_MARKERS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(rf"(?m)^[ \t]*[{_CN}]{{1,3}}[、．.](?=\S)"), 0),
    (re.compile(rf"[（(][{_CN}]{{1,3}}[)）]"), 1),
    (re.compile(rf"(?<![{_CN}])[{_CN}]{{1,2}}是(?=[^是])"), 1),
    (re.compile(r"(?<![\d.．])\d{1,2}[.、．](?![\d])"), 2),
    (re.compile(r"[（(]\d{1,2}[)）]"), 2),
    (re.compile(r"(?<![A-Za-z])[A-H][、.．](?=[^\s\d])"), 3),
)
_BOUNDARY = re.compile(r"[\n:：;；。]\s*$|^\s*$")


@dataclass
class Item:
    """A list item: ``[start, end)`` after its marker; children nested at a deeper rank.

    ``head_end`` is where the first child starts (or ``end``); ``tail_start`` is where
    text that belongs back to this item starts after its last child (or ``end``).
    """

    start: int
    end: int
    rank: int
    head_end: int
    tail_start: int
    children: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class _Marker:
    pos: int
    end: int
    rank: int


def _markers(masked: str, start: int, end: int) -> list[_Marker]:
    found: dict[int, _Marker] = {}
    for rx, rank in _MARKERS:
        for m in rx.finditer(masked, start, end):
            before = masked[max(start, m.start() - 3):m.start()]
            if m.start() != start and not _BOUNDARY.search(before) and not (
                rank == 1 and "是" in m.group(0) and re.search(r"[,，]\s*$", before)
            ):
                continue
            if m.start() not in found or found[m.start()].rank > rank:
                found[m.start()] = _Marker(m.start(), m.end(), rank)
    return sorted(found.values(), key=lambda k: k.pos)


def outline(masked: str, start: int, end: int) -> Item:
    """The list structure of ``masked[start:end]`` as a root item (rank -1)."""
    return _build(masked, start, end, _markers(masked, start, end), -1)


def _build(masked: str, start: int, end: int, markers: list[_Marker], rank: int) -> Item:
    inside = [m for m in markers if start <= m.pos < end]
    if not inside:
        return Item(start, end, rank, end, end)
    top = min(m.rank for m in inside)
    tops = [m for m in inside if m.rank == top]
    children: list[Item] = []
    for i, m in enumerate(tops):
        c_end = tops[i + 1].pos if i + 1 < len(tops) else end
        children.append(_build(masked, m.end, c_end, markers, top))
    tail_start = end
    last = children[-1]
    if not last.children:
        # the last item ends at its first full stop; what follows returns to the parent
        stop = re.search(r"[。\n]", masked[last.start:last.end])
        if stop and masked[last.start + stop.end():last.end].strip():
            tail_start = last.start + stop.end()
            last.end = last.head_end = last.tail_start = tail_start
    return Item(start, end, rank, tops[0].pos, tail_start, children)
