"""Compile condition trees into a flat postfix program for the evaluation kernel.

Each leaf becomes one instruction over a whole block of firms; combinators pop their
children. Leaves on coded fields are resolved here, once per distinct leaf, into a
lookup table over the firm data's vocabulary (a prefix ``in ["4301", "4302"]`` is a
3-valued table over the few thousand region codes present), so the kernel never
compares strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.conditions import AllOf, Condition, Criterion, Not
from matcher.encode import CODED_FIELDS, NUMERIC_FIELDS, FirmColumns
from matcher.fields import FIELDS, QUALIFICATIONS
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy

OP_NUM, OP_NUM_IN, OP_LUT, OP_QUAL, OP_PRE, OP_CONST, OP_ALL, OP_ANY, OP_NOT = range(1, 10)
# Cheaper forms of a coded-field lookup (same truth, no per-firm table gather):
# OP_BITS packs a table of at most 32 entries, 2 bits each, into one integer (size class,
# tax rating, flags); OP_RANGE tests the code against a few intervals of true codes (a
# prefix ``in`` over a sorted vocabulary is one interval per prefix).
OP_BITS, OP_RANGE = 10, 11
CMP_CODES = {">=": 0, ">": 1, "<=": 2, "<": 3, "==": 4, "!=": 5}
MAX_TRACKED_LEAVES = 64
MAX_BITS_ENTRIES = 32
MAX_RANGE_INTERVALS = 4


@dataclass
class Program:
    """All policies' instructions, concatenated; ``offsets[p]:offsets[p+1]`` is policy p."""

    instructions: np.ndarray  # int64 [n_ins, 5]: opcode, a, b, c, leaf number (-1 if none)
    offsets: np.ndarray  # int64 [n_pol + 1]
    consts: np.ndarray  # float64
    luts: np.ndarray  # uint8, concatenated tables
    pre: np.ndarray  # uint8 [n_pre, n_firms], leaves evaluated outside the kernel
    ranges: np.ndarray  # int64 [n_ranges, 2] firm slices to evaluate (sorted order)
    range_offsets: np.ndarray  # int64 [n_pol + 1]
    depth: int  # maximum stack depth
    leaves: list[list[Criterion]] = field(default_factory=list)  # per policy, document order


def _prefix_table(vocab: list[object], prefixes: Sequence[str]) -> np.ndarray:
    arr = np.array([str(v) for v in vocab], dtype=str)
    hit = np.zeros(len(arr), dtype=bool)
    for p in prefixes:
        hit |= np.char.startswith(arr, p)
    return hit


def _coarser_table(vocab: list[object], prefixes: Sequence[str]) -> np.ndarray:
    """Entries that are a strict prefix of some listed prefix (firm ``C`` vs. ``C34``).

    DATA.md §1 allows a bare section letter "when that is all that is known": such a
    firm may or may not lie in the finer group, so the leaf is unknown for it, not false.
    """
    arr = [str(v) for v in vocab]
    return np.array(
        [any(len(p) > len(v) and p.startswith(v) for p in prefixes) for v in arr], dtype=bool
    )


def _coded_truth(leaf: Criterion, vocab: list[object]) -> np.ndarray:
    """Three-valued truth (FALSE/UNKNOWN/TRUE, without the unknown slot) per vocabulary entry."""
    spec = FIELDS[leaf.field]
    op, value = leaf.op, leaf.value
    if spec.kind == "prefix" and op in ("in", "not_in"):
        hit = _prefix_table(vocab, value)  # type: ignore[arg-type]
        truth = _bool_truth(hit if op == "in" else ~hit)
        if leaf.field == "industry_code":
            maybe = ~hit & _coarser_table(vocab, value)  # type: ignore[arg-type]
            truth[maybe] = UNKNOWN
        return truth
    return _bool_truth(_plain_truth(leaf, vocab))


def _bool_truth(hit: np.ndarray) -> np.ndarray:
    return np.where(hit, TRUE, FALSE).astype(np.uint8)


def _plain_truth(leaf: Criterion, vocab: list[object]) -> np.ndarray:
    """Two-valued truth of a leaf on a known coded value (equality, membership, order)."""
    spec = FIELDS[leaf.field]
    op, value = leaf.op, leaf.value
    if op in ("==", "!="):
        hit = np.array([v == value for v in vocab], dtype=bool)
        return hit if op == "==" else ~hit
    if op in ("in", "not_in"):
        hit = np.array([v in value for v in vocab], dtype=bool)  # type: ignore[operator]
        return hit if op == "in" else ~hit
    order = spec.order or ()
    rank = {v: i for i, v in enumerate(order)}
    ranks = np.array([rank.get(str(v), -1) for v in vocab])
    target = rank[str(value)]
    cmp = {">=": ranks >= target, ">": ranks > target, "<=": ranks <= target, "<": ranks < target}
    return cmp[op] & (ranks >= 0)


def pre_truth(leaf: Criterion, frame: pd.DataFrame) -> np.ndarray:
    """Three-valued truth of a leaf on a field the kernel does not encode (text, dates, tags)."""
    n = len(frame)
    col = frame[leaf.field] if leaf.field in frame.columns else pd.Series([None] * n)
    kind = FIELDS[leaf.field].kind
    if kind == "set":
        values = col.to_numpy(dtype=object)
        unknown = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values])
        hit = np.array([(not u) and leaf.value in v for u, v in zip(unknown, values, strict=True)])
        if leaf.op == "not_has":
            hit = ~hit
    else:
        s = col.astype("string")
        if kind == "date":
            s = pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d").astype("string")
        unknown = s.isna().to_numpy()
        filled = s.fillna("")
        op, value = leaf.op, leaf.value
        if op in ("in", "not_in"):
            hit = filled.isin([str(v) for v in value]).to_numpy()  # type: ignore[union-attr]
            hit = hit if op == "in" else ~hit
        else:
            v = str(value)
            cmp = {
                "==": filled == v, "!=": filled != v, ">=": filled >= v,
                ">": filled > v, "<=": filled <= v, "<": filled < v,
            }
            hit = cmp[op].to_numpy(dtype=bool)
    return np.where(unknown, UNKNOWN, np.where(hit, TRUE, FALSE)).astype(np.uint8)


def region_prefixes(node: Condition | None) -> list[str] | None:
    """Region prefixes that every eligible firm must match, if the tree says so at its top.

    Only a region leaf that is the root or a direct child of a root ``all`` restricts the
    firms to look at: anywhere else it could be outvoted by an ``any`` or a ``not``.
    """
    candidates = node.children if isinstance(node, AllOf) else (node,) if node else ()
    for c in candidates:
        if isinstance(c, Criterion) and c.field == "region_code" and c.op in ("in", "=="):
            return list(c.value) if c.op == "in" else [str(c.value)]  # type: ignore[arg-type]
    return None


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class _Builder:
    def __init__(self, firms: FirmColumns) -> None:
        self.firms = firms
        self.ins: list[tuple[int, int, int, int, int]] = []
        self.consts: list[float] = []
        self.luts: list[np.ndarray] = []
        self.lut_size = 0
        self.lut_cache: dict[tuple[object, ...], tuple[int, int, int, int]] = {}
        self.pre: list[np.ndarray] = []
        self.pre_cache: dict[tuple[object, ...], int] = {}
        self.depth = 0

    def leaf(self, leaf: Criterion, number: int) -> None:
        spec = FIELDS[leaf.field]
        tracked = number if number < MAX_TRACKED_LEAVES else -1
        if spec.kind == "unmapped":
            self.ins.append((OP_CONST, UNKNOWN, 0, 0, tracked))
        elif spec.kind == "number":
            row = NUMERIC_FIELDS.index(leaf.field)
            if leaf.op in ("in", "not_in"):
                values = [float(v) for v in leaf.value]  # type: ignore[union-attr]
                start = len(self.consts)
                self.consts.extend(values)
                negate = 1 if leaf.op == "not_in" else 0
                self.ins.append((OP_NUM_IN, row, start, len(values) * 2 + negate, tracked))
            else:
                self.consts.append(float(leaf.value))  # type: ignore[arg-type]
                self.ins.append((OP_NUM, row, CMP_CODES[leaf.op], len(self.consts) - 1, tracked))
        elif leaf.field in CODED_FIELDS:
            self.ins.append((*self.coded(leaf), tracked))
        elif leaf.field == "qualifications":
            bit = QUALIFICATIONS.index(str(leaf.value))
            self.ins.append((OP_QUAL, bit, 1 if leaf.op == "has" else 0, 0, tracked))
        else:
            key = (leaf.field, leaf.op, repr(leaf.value))
            if key not in self.pre_cache:
                self.pre_cache[key] = len(self.pre)
                self.pre.append(pre_truth(leaf, self.firms.frame))
            self.ins.append((OP_PRE, self.pre_cache[key], 0, 0, tracked))

    def coded(self, leaf: Criterion) -> tuple[int, int, int, int]:
        """The cheapest instruction (op, row, b, c) for a leaf on a coded field.

        Code 0 is unknown and every other code is a vocabulary entry, so the leaf is a
        three-valued table over codes; the kernel evaluates it as packed bits, as a few
        code intervals, or (many scattered entries) as a table gather.
        """
        row = CODED_FIELDS.index(leaf.field)
        key = (leaf.field, leaf.op, repr(leaf.value))
        if key not in self.lut_cache:
            truth = _coded_truth(leaf, self.firms.vocab[leaf.field])
            table = np.concatenate([[UNKNOWN], truth]).astype(np.uint8)
            # Runs of true codes: [start, end) pairs over codes 1..len(vocab).
            is_true = (truth == TRUE).astype(np.int8)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], is_true, [0]])))
            two_valued = not (truth == UNKNOWN).any()  # ranges can say only true or false
            if len(table) <= MAX_BITS_ENTRIES:
                packed = sum(int(v) << (2 * k) for k, v in enumerate(table))
                self.lut_cache[key] = (OP_BITS, row, 0, packed - (1 << 64) * (packed >> 63))
            elif two_valued and len(edges) // 2 <= MAX_RANGE_INTERVALS:
                start = len(self.consts)
                self.consts.extend(float(e + 1) for e in edges)
                self.lut_cache[key] = (OP_RANGE, row, start, len(edges) // 2)
            else:
                self.lut_cache[key] = (OP_LUT, row, self.lut_size, 0)
                self.luts.append(table)
                self.lut_size += len(table)
        return self.lut_cache[key]

    def node(self, node: Condition, leaves: list[Criterion], sp: int) -> None:
        self.depth = max(self.depth, sp + 1)
        if isinstance(node, Criterion):
            self.leaf(node, len(leaves))
            leaves.append(node)
        elif isinstance(node, Not):
            self.node(node.child, leaves, sp)
            self.ins.append((OP_NOT, 0, 0, 0, -1))
        else:
            for i, child in enumerate(node.children):
                self.node(child, leaves, sp + i)
            code = OP_ALL if isinstance(node, AllOf) else OP_ANY
            self.ins.append((code, len(node.children), 0, 0, -1))


def _prefix_spans(
    region_sorted: np.ndarray, policies: Sequence[Policy], as_of: object
) -> dict[str, tuple[int, int]]:
    """Firm slice [lo, hi) of every region prefix the valid policies are limited to.

    One vectorised search for all prefixes: each call of ``searchsorted`` with a lone
    string converts the whole million-entry code array first.
    """
    wanted = sorted({
        p for policy in policies if policy.valid_on(as_of)  # type: ignore[arg-type]
        for p in region_prefixes(policy.conditions) or ()
    })
    if not wanted:
        return {}
    lo = np.searchsorted(region_sorted, np.array(wanted), side="left")
    hi = np.searchsorted(region_sorted, np.array([p + "~" for p in wanted]), side="left")
    return {p: (int(a), int(b)) for p, a, b in zip(wanted, lo, hi, strict=True)}


def compile_policies(policies: Sequence[Policy], firms: FirmColumns, as_of: object) -> Program:
    """Build the kernel program for ``policies`` over ``firms`` on ``as_of``.

    A policy outside its validity window gets no firm ranges: every firm is false.
    """
    b = _Builder(firms)
    offsets = [0]
    ranges: list[tuple[int, int]] = []
    range_offsets = [0]
    all_leaves: list[list[Criterion]] = []
    n = firms.n
    unknown_end = int(np.searchsorted(firms.region_sorted, "", side="right"))
    span = _prefix_spans(firms.region_sorted, policies, as_of)
    for policy in policies:
        leaves: list[Criterion] = []
        if policy.conditions is None:
            b.ins.append((OP_CONST, TRUE, 0, 0, -1))
            b.depth = max(b.depth, 1)
        else:
            b.node(policy.conditions, leaves, 0)
        offsets.append(len(b.ins))
        all_leaves.append(leaves)
        if policy.valid_on(as_of):  # type: ignore[arg-type]
            prefixes = region_prefixes(policy.conditions)
            if prefixes is None:
                mine = [(0, n)]
            else:
                mine = [(0, unknown_end), *(span[p] for p in prefixes)]
            ranges.extend(merge_ranges(mine))
        range_offsets.append(len(ranges))
    pre = np.stack(b.pre) if b.pre else np.zeros((0, n), dtype=np.uint8)
    return Program(
        instructions=np.array(b.ins, dtype=np.int64).reshape(-1, 5),
        offsets=np.array(offsets, dtype=np.int64),
        consts=np.array(b.consts or [0.0], dtype=np.float64),
        luts=np.concatenate(b.luts) if b.luts else np.zeros(1, dtype=np.uint8),
        pre=pre,
        ranges=np.array(ranges, dtype=np.int64).reshape(-1, 2),
        range_offsets=np.array(range_offsets, dtype=np.int64),
        depth=max(b.depth, 1),
        leaves=all_leaves,
    )
