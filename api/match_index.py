"""A warm, in-memory matcher over the stored firms and the published policies.

Why: the compiled evaluation kernel is fast over a population but compiling a policy
set costs tens of milliseconds even for one firm, far too slow per request. So the API
keeps, per evaluation date ``as_of``:

* a *base* unit: every stored firm derived and encoded once, with the published
  policies compiled against it (rebuilt when the published set changes);
* an *overlay* unit: firms written since the base was built, compiled the same way
  (rebuilt when firms change; folded into a new base once it grows large).

A request for one firm then slices that firm's column out of the encoded arrays and
runs the kernel on it alone — every policy, one firm, a fraction of a millisecond — and
explains only the verdicts it returns. Revisions in the store (``published_revision``,
``firms_revision``) tell when to rebuild; writes from other processes are seen within
``check_interval`` seconds, writes through this process at once (:meth:`touch`).

Results equal ``matcher.eligibility.eligibility_table`` for the same firms, policies and
date (a test checks that); only the order and the JSON shapes differ.

Relevance (``score``) is not computed here — it costs milliseconds per firm. It comes
from the latest ``done`` run of ``policy-match recommend --store`` (kind ``recommend``),
loaded into a compact firm × policy table (:class:`_Scores`) when a snapshot is built or
a newer run appears; a pair the run did not score, or whose firm or policy was written
after the run started, shows ``null``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import orjson
import pandas as pd

from matcher.benefits import policy_amounts
from matcher.compile import MAX_TRACKED_LEAVES, Program, compile_policies
from matcher.derive import derive
from matcher.encode import NUMERIC_FIELDS, FirmColumns, encode
from matcher.explain import blamed_leaves, describe, leaf_values
from matcher.kernel import evaluate_program, explain_program
from matcher.logic import FALSE, STATUS_NAMES, TRUE, UNKNOWN
from matcher.missing import (
    ALL_INPUTS,
    DERIVED_INPUTS,
    missing_fields,
    missing_mask,
    relevant_bits,
)
from matcher.policy import Policy
from store.policy_rows import content_hash
from store.store import Store

STATUS_CODES: dict[str, int] = {name: code for code, name in STATUS_NAMES.items()}
# Presentation order: what a firm can get first, then what it may get, then the rest.
STATUS_RANK = np.array([2, 1, 0], dtype=np.int64)  # by code: ineligible 2, undetermined 1…
_ONE = np.zeros(1, dtype=np.int64)
_EXPLAIN_CACHE_LIMIT = 200_000
# JSON fragments of one verdict (``PolicyVerdictOut``), joined per request by firm_json.
_STATUS_JSON: dict[int, bytes] = {
    code: b'%s","amount":' % name.encode() for code, name in STATUS_NAMES.items()}
_NO_REASONS = b',"unmet":[],"unknown":[]'
_NO_POSITIONS = np.zeros(0, dtype=np.int64)
# Policies compiled on their own per unit (drafts; published ones without kept verdicts):
# a few, as an officer pages through one or two policies at a time.
_COMPILED_LIMIT = 4
SCORE_RUN_KIND = "recommend"  # runs written by ``policy-match recommend --store``
SCORE_DECIMALS = 4  # as the run stores them (matcher.recommend.SCORE_DECIMALS)


def _reasons_json(unmet: list[str], unknown: list[str]) -> bytes:
    return b"".join((b',"unmet":', orjson.dumps(unmet), b',"unknown":', orjson.dumps(unknown)))


def _policy_prefix(policy: Policy) -> bytes:
    return b"".join((b'{"policy_id":', orjson.dumps(policy.id), b',"title":',
                     orjson.dumps(policy.title), b',"status":"'))


@dataclass(frozen=True)
class VerdictPage:
    """A page of verdicts plus the counts over all of them (before paging).

    Items are plain dicts in the API's JSON shape (DATA.md §5 with lists for ``unmet``
    and ``unknown``): per firm for a policy, per policy for a firm.
    """

    as_of: dt.date
    counts: dict[str, int]
    total: int
    items: list[dict[str, Any]]
    score_run: str | None = None  # the run the items' scores come from, if any


@dataclass(frozen=True)
class _Scores:
    """A stored run's relevance scores as CSR arrays over (firm, snapshot policy index).

    Why CSR: a run holds only eligible/undetermined pairs (a few percent of firm × policy),
    so a dense matrix would waste memory, and one firm's scores are one contiguous slice
    whose sorted policy columns a page looks up with one ``searchsorted``.
    """

    run_id: str
    firms_revision: int  # firms written after this are newer than the run: no score
    rows: dict[str, int]  # uscc -> row
    indptr: np.ndarray  # int64, len(rows) + 1
    cols: np.ndarray  # int32 policy index of the snapshot, increasing within a row
    values: np.ndarray  # float32

    @classmethod
    def build(cls, run_id: str, firms_revision: int,
              parts: Iterable[Sequence[tuple[str, str, float]]],
              policy_index: dict[str, int], stale_policies: set[str],
              stale_firms: set[str]) -> _Scores:
        """From a run's (uscc, policy_id, score) rows, read part by part (millions of rows
        at full scale: only the compact arrays are kept)."""
        columns = {q: k for q, k in policy_index.items() if q not in stale_policies}
        rows: dict[str, int] = {}
        row_parts, col_parts, value_parts = [], [], []
        for part in parts:
            if not part:
                continue
            n = len(part)
            col = np.fromiter((columns.get(q, -1) for _u, q, _v in part), dtype=np.int64,
                              count=n)
            row = np.fromiter((rows.setdefault(u, len(rows)) for u, _q, _v in part),
                              dtype=np.int64, count=n)
            value = np.round(np.fromiter((v for _u, _q, v in part), dtype=np.float64,
                                         count=n), SCORE_DECIMALS).astype(np.float32)
            keep = col >= 0
            row_parts.append(row[keep])
            col_parts.append(col[keep])
            value_parts.append(value[keep])
        row = np.concatenate(row_parts) if row_parts else _NO_POSITIONS
        col = np.concatenate(col_parts) if col_parts else _NO_POSITIONS
        value = (np.concatenate(value_parts) if value_parts
                 else np.zeros(0, dtype=np.float32))
        order = np.lexsort((col, row))
        counts = np.bincount(row, minlength=len(rows))
        scores = cls(run_id=run_id, firms_revision=firms_revision, rows=rows,
                     indptr=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
                     cols=col[order].astype(np.int32), values=value[order])
        return scores.without(sorted(stale_firms))

    def without(self, usccs: Sequence[str]) -> _Scores:
        """The same scores minus those firms (written after the run)."""
        gone = [u for u in usccs if u in self.rows]
        if not gone:
            return self
        rows = dict(self.rows)
        for u in gone:
            del rows[u]
        return dataclasses.replace(self, rows=rows)

    def page_json(self, uscc: str, page: np.ndarray) -> list[bytes] | None:
        """Each page entry's score as JSON (``null`` where the run has none), or None
        when the firm has no score at all."""
        row = self.rows.get(uscc)
        if row is None or not len(page):
            return None
        a, b = int(self.indptr[row]), int(self.indptr[row + 1])
        cols = self.cols[a:b]
        if not len(cols):
            return None
        wanted = page.astype(np.int32)
        at = cols.searchsorted(wanted)
        np.minimum(at, len(cols) - 1, out=at)
        values = self.values[a:b][at]  # a copy
        values[cols[at] != wanted] = np.nan
        # orjson writes a float32 by its shortest repr (a stored 0.1235 stays 0.1235) and
        # NaN as null: one serialisation for the page, no rounding per request.
        return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")

    def values_for(self, usccs: Sequence[str], col: int) -> list[float | None]:
        """Policy ``col``'s score for each firm (None where the run has none): a page of
        ``GET /policies/{id}/matches``. Same numbers as :meth:`page_json` gives the firm
        endpoint (its float32 written by shortest repr, then read back)."""
        out: list[float | None] = []
        for uscc in usccs:
            row = self.rows.get(uscc)
            if row is None:
                out.append(None)
                continue
            a, b = int(self.indptr[row]), int(self.indptr[row + 1])
            k = a + int(self.cols[a:b].searchsorted(np.int32(col)))
            if k == b or int(self.cols[k]) != col:
                out.append(None)
            else:
                out.append(orjson.loads(orjson.dumps(self.values[k],
                                                     option=orjson.OPT_SERIALIZE_NUMPY)))
        return out


@dataclass(eq=False)
class _Unit:
    """Some firms, encoded for ``as_of``, with the published policies compiled over them."""

    firms: FirmColumns
    program: Program
    position: dict[str, int]
    names: np.ndarray
    verdicts: np.ndarray | None  # uint8 [n_firms, n_policies], when small enough to keep
    # Per policy, filled in the background: each firm's explanation pattern (a small id)
    # and, per id, the false/unknown leaf masks. A page then explains by lookup.
    patterns: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)
    retired: bool = False
    # (policy, pattern id, missing inputs) -> the verdict's serialised reasons (firm_json).
    fragments: dict[tuple[int, int, int], bytes] = field(default_factory=dict)
    # Per firm, which profile inputs of derived attributes are missing (matcher.missing):
    # ``unknown`` names those inputs, as the batch table does.
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Per policy, the bits of ``missing`` its derived-attribute leaves can report.
    relevant: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # The firms in USCC order (positions, and the USCC objects in that order), made on
    # the first policy page: pages then select in this order instead of sorting every
    # matching firm per request. (Code-point order, as Python sorts: not the database's
    # collation.)
    _by_uscc: tuple[np.ndarray, np.ndarray] | None = None
    # An overlay's firms' ranks among its base's firms in USCC order (per overlay firm
    # in its own USCC order), made once: a page merges the two without string compares.
    _in_base: tuple[_Unit, np.ndarray] | None = None
    # Policies compiled on their own over these firms, least recently used first:
    # (policy id, content hash) -> (program, status per firm, explanation cache).
    # The unit holds one date's firms, so a new base or overlay starts empty.
    compiled: OrderedDict[tuple[str, str], tuple[Program, np.ndarray, dict[
        tuple[int, int, int], tuple[list[str], list[str]]]]] = field(
        default_factory=OrderedDict)

    def by_uscc(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions sorted by USCC, the sorted USCCs), computed once per unit."""
        got = self._by_uscc
        if got is None:
            # Fixed-width text sorts natively; only the order is kept (at a million firms
            # the text would take 72 MB, the object references take 8).
            order = np.argsort(self.firms.uscc.astype(str), kind="stable").astype(np.int64)
            got = self._by_uscc = (order, self.firms.uscc[order])
        return got

    def ranks_in(self, base: _Unit) -> np.ndarray:
        """For each of this unit's firms in USCC order, how many of ``base``'s firms
        sort before it (computed once per base)."""
        got = self._in_base
        if got is None or got[0] is not base:
            ranks = base.by_uscc()[1].searchsorted(self.by_uscc()[1]).astype(np.int64)
            got = self._in_base = (base, ranks)
        return got[1]

    @classmethod
    def build(cls, frame: pd.DataFrame, policies: Sequence[Policy], as_of: dt.date,
              size_standard: pd.DataFrame, matrix_limit: int) -> _Unit:
        firms = encode(derive(frame, as_of, size_standard))
        program = compile_policies(list(policies), firms, as_of)
        position = {str(u): i for i, u in enumerate(firms.uscc)}
        names = firms.frame["name"].astype(object).to_numpy()
        verdicts = None
        if 0 < firms.n * len(policies) <= matrix_limit:
            # One parallel kernel pass now saves a kernel call on every request; the
            # firm-major copy makes a firm's verdicts one contiguous row.
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
            verdicts = np.ascontiguousarray(evaluate_program(program, firms).T)
        missing = missing_mask(firms.frame, ALL_INPUTS, size_standard)
        relevant = np.array([relevant_bits([leaf.field for leaf in leaves])
                             for leaves in program.leaves], dtype=np.int64)
        return cls(firms, program, position, names, verdicts, missing=missing,
                   relevant=relevant)

    def fill_patterns(self, policies: Sequence[Policy], as_of: dt.date) -> None:
        """Explain every firm on every policy once, keeping only pattern ids (background).

        A policy's verdict for a firm is explained by which of its leaves were false and
        which unknown; firms share few such patterns (a couple of hundred per policy), so
        a page of verdicts needs table lookups, not kernel calls. Stops early when the
        unit is replaced.
        """
        if self.verdicts is None:
            return
        everyone = np.arange(self.firms.n, dtype=np.int64)
        for p, policy in enumerate(policies):
            if self.retired:
                return
            n_leaves = len(self.program.leaves[p])
            if policy.conditions is None or n_leaves > MAX_TRACKED_LEAVES:
                continue
            _, fmask, umask = explain_program(self.program, self.firms, p, everyone)
            if n_leaves <= 32:
                ids, keys = pd.factorize(fmask | (umask << np.uint64(32)), sort=False)
                uniq_f = np.asarray(keys, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
                uniq_u = np.asarray(keys, dtype=np.uint64) >> np.uint64(32)
            else:
                pairs, ids = np.unique(np.stack([fmask, umask], axis=1), axis=0,
                                       return_inverse=True)
                uniq_f, uniq_u = pairs[:, 0], pairs[:, 1]
            if len(uniq_f) >= 2**16:
                continue
            self.patterns[p] = (np.asarray(ids, dtype=np.uint16).reshape(-1), uniq_f, uniq_u)


@dataclass
class _Benefits:
    """Every computable benefit of every policy as flat arrays, for one-firm amounts.

    Same rule as ``matcher.benefits.policy_amounts``: the most one benefit gives, NaN if
    a rate's base is unknown, NaN if the policy has no computable benefit.
    """

    policy: np.ndarray
    fixed: np.ndarray
    rate: np.ndarray
    base_row: np.ndarray
    cap: np.ndarray
    has_any: np.ndarray
    starts: np.ndarray  # first benefit of each policy that has one

    @classmethod
    def build(cls, policies: Sequence[Policy]) -> _Benefits:
        pol, fixed, rate, base, cap = [], [], [], [], []
        has_any = np.zeros(len(policies), dtype=bool)
        for p, policy in enumerate(policies):
            for b in policy.benefits:
                if not b.computable:
                    continue
                has_any[p] = True
                pol.append(p)
                fixed.append(np.nan if b.amount is None else float(b.amount))
                rate.append(0.0 if b.rate is None else float(b.rate))
                base.append(-1 if b.amount is not None else NUMERIC_FIELDS.index(str(b.base)))
                cap.append(np.inf if b.cap is None else float(b.cap))
        owner = np.array(pol, dtype=np.int64)
        starts = np.flatnonzero(np.diff(owner, prepend=-1) != 0)
        return cls(owner, np.array(fixed), np.array(rate), np.array(base, dtype=np.int64),
                   np.array(cap), has_any, starts)

    def __post_init__(self) -> None:
        # Derived once so that a request's amounts are a few small array ops: fixed
        # amounts are already in place, only rate-based benefits read the firm.
        rows = np.flatnonzero(self.base_row >= 0)
        self._rate_rows, self._rate_base = rows, self.base_row[rows]
        self._rate_only, self._cap_only = self.rate[rows], self.cap[rows]
        self._values = np.where(self.base_row < 0, self.fixed, np.nan)
        self._with_any = np.flatnonzero(self.has_any)
        # One benefit per policy (the common case): no per-policy maximum to take.
        self._single = len(self.starts) == len(self.policy)
        self._empty = np.full(len(self.has_any), np.nan)

    def amounts(self, numeric_column: np.ndarray) -> np.ndarray:
        """Amount per policy for one firm, given its column of numeric fields."""
        values = self._values.copy()
        if len(self._rate_rows):
            by_rate = numeric_column.take(self._rate_base)
            with np.errstate(invalid="ignore"):
                by_rate *= self._rate_only
                np.maximum(by_rate, 0.0, out=by_rate)
                np.minimum(by_rate, self._cap_only, out=by_rate)
            values[self._rate_rows] = by_rate
        if self._single and len(self._with_any) == len(self._empty):
            return values
        out = self._empty.copy()
        if len(self.policy):
            # Benefits are listed policy by policy: one maximum per segment, and
            # np.maximum lets a NaN (unknown base) win, as policy_amounts does.
            out[self._with_any] = (values if self._single
                                   else np.maximum.reduceat(values, self.starts))
        return out


@dataclass
class _Snapshot:
    """Everything needed to answer for one ``as_of``."""

    as_of: dt.date
    published_revision: int
    base_revision: int
    overlay_revision: int
    policies: list[Policy]
    policy_index: dict[str, int]
    benefits: _Benefits
    base: _Unit
    overlay: _Unit | None
    shadowed: np.ndarray  # bool over base positions: a newer copy lives in the overlay
    valid: np.ndarray  # bool per policy: inside its validity window on as_of
    explained: dict[tuple[int, int, int], tuple[list[str], list[str]]] = field(
        default_factory=dict)
    prefix: list[bytes] = field(default_factory=list)  # per policy: id and title as JSON
    valid_list: list[bool] = field(default_factory=list)  # ``valid`` as Python bools
    scores: _Scores | None = None  # the latest done recommend run's, if any
    # content_hash of policies[p], filled on demand: is a requested policy the published one?
    hashes: dict[int, str] = field(default_factory=dict)

    def published_index(self, policy: Policy, digest: str) -> int | None:
        """The snapshot's index of ``policy`` if that very content is published in it."""
        p = self.policy_index.get(policy.id)
        if p is None:
            return None
        mine = self.hashes.get(p)
        if mine is None:
            mine = self.hashes[p] = content_hash(self.policies[p])
        return p if mine == digest else None

    def locate(self, uscc: str) -> tuple[_Unit, int] | None:
        if self.overlay is not None:
            pos = self.overlay.position.get(uscc)
            if pos is not None:
                return self.overlay, pos
        pos = self.base.position.get(uscc)
        return None if pos is None else (self.base, pos)


def _one_firm(unit: _Unit, pos: int) -> tuple[Program, FirmColumns]:
    """The program and firm arrays reduced to the firm at ``pos`` (a view of one column).

    A policy whose region ranges do not contain the firm gets no range, i.e. ineligible,
    exactly as in the full evaluation.
    """
    prog, firms = unit.program, unit.firms
    r, ro = prog.ranges, prog.range_offsets
    inside = (r[:, 0] <= pos) & (pos < r[:, 1])
    csum = np.concatenate([[0], np.cumsum(inside)])
    hit = (csum[ro[1:]] - csum[ro[:-1]]) > 0
    ranges = np.zeros((int(hit.sum()), 2), dtype=np.int64)
    ranges[:, 1] = 1
    one_prog = dataclasses.replace(
        prog,
        pre=np.ascontiguousarray(prog.pre[:, pos:pos + 1]),
        ranges=ranges,
        range_offsets=np.concatenate([[0], np.cumsum(hit)]).astype(np.int64),
    )
    one_firm = FirmColumns(
        uscc=firms.uscc[pos:pos + 1],
        order=_ONE,
        numeric=np.ascontiguousarray(firms.numeric[:, pos:pos + 1]),
        codes=np.ascontiguousarray(firms.codes[:, pos:pos + 1]),
        vocab=firms.vocab,
        qualification_mask=np.ascontiguousarray(firms.qualification_mask[pos:pos + 1]),
        region_sorted=firms.region_sorted[pos:pos + 1],
        frame=firms.frame,  # not read by the kernel; kept for the type
    )
    return one_prog, one_firm


def _window_text(policy: Policy) -> str:
    # Same wording as matcher.eligibility.Evaluation.reasons.
    return f"不在政策有效期内（{policy.valid_from or '—'} 至 {policy.valid_until or '—'}）"


def _as_inputs(hit: tuple[list[str], list[str]], mask: int) -> tuple[list[str], list[str]]:
    """Unknown derived attributes named as the firm's missing inputs (DATA.md §5)."""
    unmet, fields = hit
    if not any(f in DERIVED_INPUTS for f in fields):
        return hit
    return unmet, missing_fields(fields, ALL_INPUTS, mask)


def _explain_policy(cache: dict[tuple[int, int, int], tuple[list[str], list[str]]],
                    key: int, policy: Policy | None, prog: Program, firms: FirmColumns,
                    p: int, idx: np.ndarray, as_of: dt.date,
                    missing: np.ndarray | None = None) -> list[tuple[list[str], list[str]]]:
    """(unmet source texts, unknown fields) of policy ``p`` for firms ``idx`` of ``firms``.

    Explanations depend only on which leaves failed or were unknown, so they are cached
    by that pattern (``cache`` key ``(key, false mask, unknown mask)``); ``missing`` (per
    firm of ``idx``, :data:`matcher.missing.ALL_INPUTS` bits) words derived attributes.
    """
    out = _explain_fields(cache, key, policy, prog, firms, p, idx, as_of)
    if missing is None:
        return out
    return [_as_inputs(hit, int(m)) for hit, m in zip(out, missing.tolist(), strict=True)]


def _explain_fields(cache: dict[tuple[int, int, int], tuple[list[str], list[str]]],
                    key: int, policy: Policy | None, prog: Program, firms: FirmColumns,
                    p: int, idx: np.ndarray, as_of: dt.date) -> list[tuple[list[str], list[str]]]:
    n = len(idx)
    if policy is None or policy.conditions is None:
        return [([], [])] * n
    if not policy.valid_on(as_of):
        return [([_window_text(policy)], [])] * n
    leaves = prog.leaves[p]
    if len(leaves) > MAX_TRACKED_LEAVES:
        return [_explain_long(policy, leaves, firms, int(i), as_of) for i in idx]
    _, fmask, umask = explain_program(prog, firms, p, idx, block=max(1, min(n, 2048)))
    out = []
    for fm, um in zip(fmask.tolist(), umask.tolist(), strict=True):
        k = (key, fm, um)
        hit = cache.get(k)
        if hit is None:
            failed, unknown = blamed_leaves(policy.conditions, leaves,
                                            leaf_values(len(leaves), fm, um))
            hit = (list(dict.fromkeys(describe(x) for x in failed if describe(x))),
                   list(dict.fromkeys(x.field for x in unknown)))
            if len(cache) > _EXPLAIN_CACHE_LIMIT:
                cache.clear()
            cache[k] = hit
        out.append(hit)
    return out


def _explain_by_pattern(cache: dict[tuple[int, int, int], tuple[list[str], list[str]]],
                        p: int, policy: Policy, leaves: list, table: tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray],
                        pos: int) -> tuple[list[str], list[str]]:
    ids, uniq_f, uniq_u = table
    k = int(ids[pos])
    fm, um = int(uniq_f[k]), int(uniq_u[k])
    hit = cache.get((p, fm, um))
    if hit is None:
        assert policy.conditions is not None
        failed, unknown = blamed_leaves(policy.conditions, leaves, leaf_values(len(leaves), fm, um))
        hit = (list(dict.fromkeys(describe(x) for x in failed if describe(x))),
               list(dict.fromkeys(x.field for x in unknown)))
        if len(cache) > _EXPLAIN_CACHE_LIMIT:
            cache.clear()
        cache[(p, fm, um)] = hit
    return hit


def _explain_long(policy: Policy, leaves: list, firms: FirmColumns, i: int,
                  as_of: dt.date) -> tuple[list[str], list[str]]:
    """Trees beyond the kernel's 64 tracked leaves: evaluate each leaf on its own."""
    singles = [Policy(id=f"leaf{k}", conditions=leaf) for k, leaf in enumerate(leaves)]
    sub = FirmColumns(
        uscc=firms.uscc[i:i + 1], order=_ONE,
        numeric=np.ascontiguousarray(firms.numeric[:, i:i + 1]),
        codes=np.ascontiguousarray(firms.codes[:, i:i + 1]), vocab=firms.vocab,
        qualification_mask=np.ascontiguousarray(firms.qualification_mask[i:i + 1]),
        region_sorted=firms.region_sorted[i:i + 1],
        frame=firms.frame.iloc[i:i + 1].reset_index(drop=True),
    )
    prog = compile_policies(singles, sub, as_of)
    values = [int(evaluate_program(dataclasses.replace(
        prog, ranges=np.array([[0, 1]] * len(singles), dtype=np.int64),
        range_offsets=np.arange(len(singles) + 1, dtype=np.int64)), sub)[k, 0])
        for k in range(len(singles))]
    assert policy.conditions is not None
    failed, unknown = blamed_leaves(policy.conditions, leaves, values)
    return (list(dict.fromkeys(describe(x) for x in failed if describe(x))),
            list(dict.fromkeys(x.field for x in unknown)))


def _amount(value: float) -> float | None:
    if value != value or value in (np.inf, -np.inf):
        return None
    return round(float(value), 2)


@dataclass(eq=False)
class _PolicyPart:
    """One unit's verdicts on the policy of a ``policy_page`` request, and how to explain
    them: the snapshot's program and index ``p`` for a published policy, else the policy
    compiled on its own (index 0) with its own explanation cache."""

    unit: _Unit
    status: np.ndarray  # uint8 per firm of the unit
    program: Program
    index: int  # the policy's index in ``program``
    snap_policy: int | None  # the snapshot's index when answered from its verdicts
    explained: dict[tuple[int, int, int], tuple[list[str], list[str]]] = field(
        default_factory=dict)
    ranks: np.ndarray = field(default_factory=lambda: _NO_POSITIONS)
    order: np.ndarray = field(default_factory=lambda: _NO_POSITIONS)  # positions by USCC

    @property
    def key(self) -> int:
        """The explanation-cache key: the snapshot's policy index, or 0 for its own."""
        return self.index


class MatchIndex:
    """Answers "which policies for this firm" and "which firms for this policy" from memory.

    Parameters
    ----------
    store
        Where firms and published policies come from.
    size_standard
        《中小企业划型标准规定》 table (``profiles.reference.size_standard()``).
    check_interval
        Seconds between looks at the store's revision counters (writes by other
        processes become visible within this time).
    overlay_limit
        Firms changed since the base was built, beyond which the base is rebuilt.
    matrix_limit
        Keep every (firm, policy) verdict of a unit in memory (one byte each) when there
        are at most this many; above it, each request runs the kernel for its firm.
    background
        After a build, explain every (firm, policy) once in a background thread and keep
        the explanation pattern ids (two bytes a pair), so pages are explained by lookup.
    max_dates
        Evaluation dates kept warm at once (least recently used is dropped).
    freeze_gc
        After a full build, move every live object out of the cyclic garbage collector's
        reach (``gc.freeze``); before the next one, back (``gc.unfreeze``). A server
        process sets it: its ~350k long-lived objects (the firms, the policies, the
        tables) otherwise make each full collection stop the event loop ~0.2 s, which
        lands on whichever requests are in flight. Process-wide, so off by default.
    """

    def __init__(self, store: Store, size_standard: pd.DataFrame, *, check_interval: float = 1.0,
                 overlay_limit: int = 5_000, max_dates: int = 3,
                 matrix_limit: int = 200_000_000, background: bool = True,
                 freeze_gc: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.freeze_gc = freeze_gc
        self.size_standard = size_standard
        self.check_interval = check_interval
        self.overlay_limit = overlay_limit
        self.max_dates = max_dates
        self.matrix_limit = matrix_limit
        self.background = background
        self.clock = clock
        self._snapshots: OrderedDict[dt.date, _Snapshot] = OrderedDict()
        self._checked_at: dict[dt.date, float] = {}
        self._build_lock = threading.Lock()
        self._kernel_lock = threading.Lock()
        self._frame_cache: tuple[int, pd.DataFrame] | None = None
        self._policy_cache: tuple[int, list[Policy]] | None = None
        # (run id, published revision, table) last loaded: shared by the dates.
        self._score_cache: tuple[str, int, _Scores] | None = None

    # ---------------------------------------------------------------- freshness
    def touch(self) -> None:
        """Something was written through this process: look at the store on next use."""
        self._checked_at.clear()

    def needs_prepare(self, as_of: dt.date) -> bool:
        """Cheap test (no I/O): must :meth:`prepare` run before answering for ``as_of``?"""
        checked = self._checked_at.get(as_of)
        return (as_of not in self._snapshots or checked is None
                or self.clock() - checked >= self.check_interval)

    def prepare(self, as_of: dt.date) -> None:
        """Build or refresh the snapshot for ``as_of`` (blocking; may take seconds)."""
        with self._build_lock:
            if not self.needs_prepare(as_of):
                return
            published = self.store.revision("published_revision")
            firms_rev = self.store.revision("firms_revision")
            score_run = self.store.latest_done_run_id(SCORE_RUN_KIND, as_of)
            snap = self._snapshots.get(as_of)
            old = snap
            if snap is None or snap.published_revision != published:
                if self.freeze_gc:
                    gc.unfreeze()  # the snapshot being replaced may be collected again
                snap = self._build(as_of)
                snap = dataclasses.replace(snap, scores=self._load_scores(score_run, snap))
                if self.freeze_gc:
                    gc.freeze()
            else:
                if snap.overlay_revision != firms_rev:
                    snap = self._refresh_overlay(snap)
                current = snap.scores
                if (None if current is None else current.run_id) != score_run:
                    snap = dataclasses.replace(snap, scores=self._load_scores(score_run, snap))
                elif current is not None and snap is not old:
                    # Firms written since: their scores describe an older profile.
                    snap = dataclasses.replace(snap, scores=current.without(
                        self.store.changed_since("firms", current.firms_revision)))
            before = () if old is None else (old.base, old.overlay)
            for unit in before:
                if unit is not None and unit is not snap.base and unit is not snap.overlay:
                    unit.retired = True
            for unit in (snap.base, snap.overlay):
                if unit is not None and self.background and all(unit is not u for u in before):
                    threading.Thread(target=unit.fill_patterns, args=(snap.policies, as_of),
                                     name="match-index-explain", daemon=True).start()
            self._snapshots[as_of] = snap
            self._snapshots.move_to_end(as_of)
            while len(self._snapshots) > self.max_dates:
                dropped, _ = self._snapshots.popitem(last=False)
                self._checked_at.pop(dropped, None)
            self._checked_at[as_of] = self.clock()

    def _load_scores(self, run_id: str | None, snap: _Snapshot) -> _Scores | None:
        """The run's scores over this snapshot's policies, minus firms and policies written
        after the run read them (the revisions it recorded)."""
        if run_id is None:
            return None
        run = self.store.run(run_id)
        if run is None or run.state != "done":
            return None
        cached = self._score_cache
        if (cached is not None and cached[0] == run_id
                and cached[1] == snap.published_revision):
            # Another date over the same published set: the same table, fresher firms.
            return cached[2].without(self.store.changed_since("firms", cached[2].firms_revision))
        firms_rev = int(run.params.get("firms_revision", -1))
        policies_rev = int(run.params.get("policies_revision", -1))
        if firms_rev < 0 or policies_rev < 0:  # a run that did not record what it read
            return None
        stale_firms = set(self.store.changed_since("firms", firms_rev))
        stale_policies = set(self.store.changed_since("policies", policies_rev))
        scores = _Scores.build(run_id, firms_rev, self.store.run_scores(run_id),
                               snap.policy_index, stale_policies, stale_firms)
        self._score_cache = (run_id, snap.published_revision, scores)
        return scores

    def _published(self) -> tuple[list[Policy], int]:
        policies, rev = self.store.published_policies()
        self._policy_cache = (rev, policies)
        return policies, rev

    def _build(self, as_of: dt.date) -> _Snapshot:
        policies, published = self._published()
        frame, firms_rev = self._firms_frame()
        base = _Unit.build(frame, policies, as_of, self.size_standard, self.matrix_limit)
        return _Snapshot(
            as_of=as_of, published_revision=published, base_revision=firms_rev,
            overlay_revision=firms_rev, policies=policies,
            policy_index={p.id: i for i, p in enumerate(policies)},
            benefits=_Benefits.build(policies), base=base, overlay=None,
            shadowed=np.zeros(base.firms.n, dtype=bool),
            valid=np.array([p.valid_on(as_of) for p in policies], dtype=bool),
            prefix=[_policy_prefix(p) for p in policies],
            valid_list=[p.valid_on(as_of) for p in policies],
        )

    def _firms_frame(self) -> tuple[pd.DataFrame, int]:
        rev = self.store.revision("firms_revision")
        if self._frame_cache is not None and self._frame_cache[0] == rev:
            return self._frame_cache[1], rev
        frame, rev = self.store.firms_frame()
        self._frame_cache = (rev, frame)
        return frame, rev

    def _refresh_overlay(self, snap: _Snapshot) -> _Snapshot:
        changed, rev = self.store.firms_frame(since_revision=snap.base_revision)
        if len(changed) > self.overlay_limit:
            return self._build(snap.as_of)
        overlay = _Unit.build(changed, snap.policies, snap.as_of, self.size_standard,
                              self.matrix_limit)
        shadowed = np.zeros(snap.base.firms.n, dtype=bool)
        for u in overlay.position:
            pos = snap.base.position.get(u)
            if pos is not None:
                shadowed[pos] = True
        return dataclasses.replace(snap, overlay=overlay, overlay_revision=rev,
                                   shadowed=shadowed)

    def snapshot(self, as_of: dt.date) -> _Snapshot:
        if self.needs_prepare(as_of):
            self.prepare(as_of)
        return self._snapshots[as_of]

    # ---------------------------------------------------------------- one firm
    def firm_json(self, uscc: str, as_of: dt.date, *, statuses: Sequence[str] = (),
                  limit: int = 100, offset: int = 0) -> bytes | None:
        """The firm's verdicts as the JSON body of ``GET /firms/{uscc}/matches``
        (``FirmMatchesOut``), or None if the firm is not stored. Order: eligible,
        undetermined, ineligible; larger amounts first; then policy id.

        Why bytes: this is the API's hot path, and building ~50 dicts per request only to
        serialise them cost as much as everything else. Each verdict is instead a join of
        fragments serialised once — the policy's id and title per snapshot, its reasons
        per explanation pattern — and the few firm-specific bytes (status, amount).

        Answers from the snapshot at hand (callers run :meth:`prepare` first, off the
        event loop, when :meth:`needs_prepare` says so); builds one only if there is none.
        """
        snap = self._snapshots.get(as_of) or self.snapshot(as_of)
        found = snap.locate(uscc)
        if found is None:
            return None
        unit, pos = found
        if unit.verdicts is not None:
            status = unit.verdicts[pos]
        else:
            with self._kernel_lock:
                numba.set_num_threads(1)
                prog, firm = _one_firm(unit, pos)
                status = evaluate_program(prog, firm, block=1)[:, 0]
        counts = np.bincount(status, minlength=3).tolist()
        wanted = [c for c in (TRUE, UNKNOWN, FALSE)
                  if not statuses or STATUS_NAMES[c] in statuses]
        total = sum(counts[c] for c in wanted)
        end = offset + limit
        # Eligible and undetermined verdicts (a few percent) are sorted by amount;
        # ineligible ones show no amount and keep policy id order, so they need no sort.
        shown_codes = [c for c in wanted if c != FALSE]
        n_open = sum(counts[c] for c in shown_codes)
        head = _NO_POSITIONS
        money: list[bytes] = []
        if offset < n_open:
            sel = np.flatnonzero(status != FALSE if len(shown_codes) == 2
                                 else status == shown_codes[0])
            amounts = snap.benefits.amounts(unit.firms.numeric[:, pos])[sel]
            shown = amounts.copy()
            shown[np.isnan(shown)] = -1.0
            order = np.lexsort((sel, -shown, 2 - status[sel]))[offset:end]
            head = sel[order]
            # One serialisation for the page's amounts; NaN (not computable) is null.
            money = orjson.dumps(np.round(amounts[order], 2).tolist())[1:-1].split(b",")
        tail = _NO_POSITIONS
        if FALSE in wanted and end > n_open and counts[FALSE]:
            tail = np.flatnonzero(status == FALSE)[max(0, offset - n_open):end - n_open]
        page = np.concatenate((head, tail)) if len(tail) else head
        codes = status[page].tolist()
        money.extend([b"null"] * len(tail))
        scored = snap.scores
        score_json = None if scored is None else scored.page_json(uscc, page)
        if score_json is None:
            score_json = [b"null"] * len(page)
        items = []
        prefix, valid = snap.prefix, snap.valid_list
        tables, fragments = unit.patterns, unit.fragments
        for p, code, amount, score in zip(page.tolist(), codes, money, score_json,
                                          strict=True):
            if code == TRUE:
                reasons = _NO_REASONS
            else:
                table = tables.get(p)
                if table is not None and valid[p]:
                    m = int(unit.missing[pos] & unit.relevant[p])
                    k = (p, int(table[0][pos]), m)
                    reasons = fragments.get(k)  # type: ignore[assignment]
                    if reasons is None:
                        reasons = _reasons_json(*_as_inputs(_explain_by_pattern(
                            snap.explained, p, snap.policies[p], unit.program.leaves[p],
                            table, pos), m))
                        if len(fragments) > _EXPLAIN_CACHE_LIMIT:
                            fragments.clear()
                        fragments[k] = reasons
                else:
                    with self._kernel_lock:
                        numba.set_num_threads(1)
                        reasons = _reasons_json(*_explain_policy(
                            snap.explained, p, snap.policies[p], unit.program, unit.firms, p,
                            np.array([pos], dtype=np.int64), as_of,
                            unit.missing[pos:pos + 1])[0])
            items.append(b"".join((prefix[p], _STATUS_JSON[code], amount, reasons,
                                   b',"score":', score, b"}")))
        return b"".join((
            b'{"uscc":', orjson.dumps(uscc), b',"as_of":"', as_of.isoformat().encode(),
            b'","counts":{"eligible":%d,"undetermined":%d,"ineligible":%d}'
            % (counts[TRUE], counts[UNKNOWN], counts[FALSE]),
            b',"total":%d,"limit":%d,"offset":%d,"score_run":' % (total, limit, offset),
            b"null" if scored is None else orjson.dumps(scored.run_id), b',"matches":[',
            b",".join(items), b"]}"))

    def firm_page(self, uscc: str, as_of: dt.date, *, statuses: Sequence[str] = (),
                  limit: int = 100, offset: int = 0) -> VerdictPage | None:
        """:meth:`firm_json` as a :class:`VerdictPage` (for callers that want objects)."""
        body = self.firm_json(uscc, as_of, statuses=statuses, limit=limit, offset=offset)
        if body is None:
            return None
        data = orjson.loads(body)
        return VerdictPage(as_of=as_of, counts=data["counts"], total=data["total"],
                           items=data["matches"])

    # ---------------------------------------------------------------- one policy
    def policy_page(self, policy: Policy, as_of: dt.date, *, statuses: Sequence[str] = (),
                    limit: int = 100, offset: int = 0) -> VerdictPage:
        """Every stored firm's verdict on ``policy`` (published or not), a page sorted by USCC.

        A published policy (same id and content as in the snapshot) is answered from the
        verdicts the snapshot keeps, explained by its pattern tables and scored from the
        latest run, like :meth:`firm_json`. Anything else (a draft being previewed, or no
        kept verdicts) is compiled on its own against the warm firm units once and kept
        per unit (:data:`_COMPILED_LIMIT` policies).

        Why no sort: each unit orders its firms by USCC once (:meth:`_Unit.by_uscc`); a
        page selects the wanted statuses in that order and merges the few overlay firms
        in by ``searchsorted`` — O(firms) integer work, nothing in Python per matching firm.
        """
        snap = self.snapshot(as_of)
        digest = content_hash(policy)
        p = snap.published_index(policy, digest)
        want = np.zeros(3, dtype=bool)
        want[[STATUS_CODES[s] for s in statuses] if statuses else [0, 1, 2]] = True
        counts = np.zeros(3, dtype=np.int64)
        parts: list[_PolicyPart] = []
        for unit, live in ((snap.base, ~snap.shadowed if snap.overlay is not None else None),
                           (snap.overlay, None)):
            if unit is None or unit.firms.n == 0:
                continue
            part = self._policy_part(unit, policy, digest, p, as_of)
            order, _codes = unit.by_uscc()
            in_order = part.status[order]
            keep = want[in_order]
            if live is not None:
                alive = live[order]
                keep &= alive
                counts += np.bincount(in_order[alive], minlength=3)
            else:
                counts += np.bincount(in_order, minlength=3)
            part.ranks = np.flatnonzero(keep)  # selected, as ranks in USCC order
            part.order = order
            parts.append(part)
        end = offset + limit
        # (merged rank, part, position) of the page's firms.
        chosen: list[tuple[np.ndarray, int, np.ndarray]] = []
        if len(parts) == 1:
            only = parts[0]
            chosen.append((np.arange(offset, min(end, len(only.ranks))), 0,
                           only.order[only.ranks[offset:end]]))
        elif parts:
            base, over = parts
            # Selected base firms before each selected overlay firm (USCCs are unique
            # between them: a base firm with an overlay copy is not live).
            full = over.unit.ranks_in(base.unit)[over.ranks]
            before = base.ranks.searchsorted(full)
            m = len(over.ranks)
            merged_o = np.arange(m) + before
            on_page = (merged_o >= offset) & (merged_o < end)
            chosen.append((merged_o[on_page], 1, over.order[over.ranks[on_page]]))
            js = np.arange(max(0, offset - m), min(len(base.ranks), end))
            merged_b = js + before.searchsorted(js, side="right")
            on_page = (merged_b >= offset) & (merged_b < end)
            chosen.append((merged_b[on_page], 0, base.order[base.ranks[js[on_page]]]))
        scored = snap.scores if p is not None else None
        items: list[tuple[int, dict[str, Any]]] = []
        for ranks, k, positions in chosen:
            if not len(positions):
                continue
            part = parts[k]
            items.extend(zip(ranks.tolist(), self._policy_items(
                snap, part, policy, p, positions, as_of, scored), strict=True))
        items.sort(key=lambda t: t[0])
        return VerdictPage(
            as_of=as_of,
            counts={STATUS_NAMES[k]: int(counts[k]) for k in (TRUE, UNKNOWN, FALSE)},
            total=sum(len(part.ranks) for part in parts), items=[v for _i, v in items],
            score_run=None if scored is None else scored.run_id,
        )

    def _policy_part(self, unit: _Unit, policy: Policy, digest: str, p: int | None,
                     as_of: dt.date) -> _PolicyPart:
        """One unit's verdicts on ``policy``: the kept column if published, else compiled
        once (least recently used dropped)."""
        if p is not None and unit.verdicts is not None:
            return _PolicyPart(unit, unit.verdicts[:, p], unit.program, p, p)
        key = (policy.id, digest)
        with self._kernel_lock:
            hit = unit.compiled.get(key)
            if hit is None:
                numba.set_num_threads(1)
                prog = compile_policies([policy], unit.firms, as_of)
                hit = (prog, evaluate_program(prog, unit.firms)[0], {})
                unit.compiled[key] = hit
                while len(unit.compiled) > _COMPILED_LIMIT:
                    unit.compiled.popitem(last=False)
            else:
                unit.compiled.move_to_end(key)
        return _PolicyPart(unit, hit[1], hit[0], 0, None, explained=hit[2])

    def _policy_items(self, snap: _Snapshot, part: _PolicyPart, policy: Policy,
                      p: int | None, positions: np.ndarray, as_of: dt.date,
                      scored: _Scores | None) -> list[dict[str, Any]]:
        """The page's firms of one unit as ``FirmVerdictOut`` dicts."""
        unit = part.unit
        status = part.status[positions]
        amounts = self._amounts(policy, unit.firms.numeric[:, positions])
        usccs = [str(u) for u in unit.firms.uscc[positions]]
        reasons: dict[int, tuple[list[str], list[str]]] = {}
        need = np.flatnonzero(status != TRUE)
        table = unit.patterns.get(p) if part.snap_policy is not None and p is not None else None
        if len(need) and table is not None and snap.valid_list[p]:  # type: ignore[index]
            assert p is not None
            for j in need.tolist():
                pos = int(positions[j])
                reasons[j] = _as_inputs(_explain_by_pattern(
                    snap.explained, p, snap.policies[p], unit.program.leaves[p], table, pos),
                    int(unit.missing[pos]))
        elif len(need):
            # The program's leaves are the objects of the policy it was compiled from.
            own = part.snap_policy is None
            cache = part.explained if own else snap.explained
            compiled_from = policy if own else snap.policies[part.index]
            with self._kernel_lock:
                numba.set_num_threads(1)
                got = _explain_policy(cache, part.key, compiled_from, part.program, unit.firms,
                                      part.index, positions[need], as_of,
                                      unit.missing[positions[need]])
            reasons = dict(zip(need.tolist(), got, strict=True))
        scores = ([None] * len(usccs) if scored is None or p is None
                  else scored.values_for(usccs, p))
        out = []
        for j, (uscc, code, score) in enumerate(zip(usccs, status.tolist(), scores,
                                                    strict=True)):
            unmet, unknown = reasons.get(j, ([], []))
            out.append({
                "uscc": uscc, "name": str(unit.names[positions[j]]),
                "status": STATUS_NAMES[code],
                "amount": None if code == FALSE else _amount(amounts[j]),
                "unmet": unmet, "unknown": unknown, "score": score,
            })
        return out

    @staticmethod
    def _amounts(policy: Policy, numeric: np.ndarray) -> np.ndarray:
        return policy_amounts(policy.benefits, numeric)
