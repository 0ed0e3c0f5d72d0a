"""The compiled evaluation kernel (numba).

Vectorised interpretation: the program of one policy runs instruction by instruction
over a cache-sized block of firms, each instruction a tight loop over the block, so the
interpretive overhead is paid once per block while the stack of partial results stays in
L1/L2. Policies run in parallel (``prange``); a policy restricted to a region visits only
that region's slice of the (region-sorted) firm table.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from matcher.compile import (
    OP_ALL,
    OP_ANY,
    OP_CONST,
    OP_LUT,
    OP_NOT,
    OP_NUM,
    OP_NUM_IN,
    OP_PRE,
    OP_QUAL,
    Program,
)
from matcher.encode import FirmColumns

BLOCK = 2048


@njit(cache=True, nogil=True)
def _run_block(ins, p0, p1, consts, num, codes, luts, qual, pre,
               idx, base, m, stack, track, fmask, umask):  # pragma: no cover - compiled
    use_idx = idx.shape[0] > 0
    sp = 0
    for k in range(p0, p1):
        op = ins[k, 0]
        a = ins[k, 1]
        b = ins[k, 2]
        c = ins[k, 3]
        if op == OP_ALL or op == OP_ANY:
            lo = sp - a
            dst = stack[lo]
            for j in range(1, a):
                src = stack[lo + j]
                if op == OP_ALL:
                    for i in range(m):
                        if src[i] < dst[i]:
                            dst[i] = src[i]
                else:
                    for i in range(m):
                        if src[i] > dst[i]:
                            dst[i] = src[i]
            sp = lo + 1
            continue
        if op == OP_NOT:
            dst = stack[sp - 1]
            for i in range(m):
                dst[i] = 2 - dst[i]
            continue
        s = stack[sp]
        sp += 1
        if op == OP_NUM:
            x = num[a]
            v = consts[c]
            for i in range(m):
                r = idx[i] if use_idx else base + i
                xi = x[r]
                if xi != xi:
                    s[i] = 1
                elif b == 0:
                    s[i] = 2 if xi >= v else 0
                elif b == 1:
                    s[i] = 2 if xi > v else 0
                elif b == 2:
                    s[i] = 2 if xi <= v else 0
                elif b == 3:
                    s[i] = 2 if xi < v else 0
                elif b == 4:
                    s[i] = 2 if xi == v else 0
                else:
                    s[i] = 2 if xi != v else 0
        elif op == OP_NUM_IN:
            x = num[a]
            cnt = c // 2
            neg = c % 2
            for i in range(m):
                r = idx[i] if use_idx else base + i
                xi = x[r]
                if xi != xi:
                    s[i] = 1
                else:
                    hit = 0
                    for q in range(cnt):
                        if xi == consts[b + q]:
                            hit = 1
                    s[i] = 2 * (hit ^ neg)
        elif op == OP_LUT:
            col = codes[a]
            for i in range(m):
                r = idx[i] if use_idx else base + i
                s[i] = luts[b + col[r]]
        elif op == OP_QUAL:
            for i in range(m):
                r = idx[i] if use_idx else base + i
                q = qual[r]
                if q < 0:
                    s[i] = 1
                else:
                    has = (q >> a) & 1
                    s[i] = 2 * has if b == 1 else 2 - 2 * has
        elif op == OP_PRE:
            col = pre[a]
            for i in range(m):
                r = idx[i] if use_idx else base + i
                s[i] = col[r]
        else:  # OP_CONST
            for i in range(m):
                s[i] = a
        leaf = ins[k, 4]
        if track and leaf >= 0:
            bit = np.uint64(1) << np.uint64(leaf)
            for i in range(m):
                if s[i] == 0:
                    fmask[i] |= bit
                elif s[i] == 1:
                    umask[i] |= bit


@njit(cache=True, parallel=True)
def _evaluate(ins, offsets, consts, num, codes, luts, qual, pre, ranges, range_offsets,
              depth, block, out):  # pragma: no cover - compiled
    n_pol = offsets.shape[0] - 1
    no_idx = np.empty(0, np.int64)
    no_mask = np.empty(0, np.uint64)
    for p in prange(n_pol):
        stack = np.empty((depth, block), np.uint8)
        row = out[p]
        for r in range(range_offsets[p], range_offsets[p + 1]):
            start = ranges[r, 0]
            hi = ranges[r, 1]
            while start < hi:
                m = min(block, hi - start)
                _run_block(ins, offsets[p], offsets[p + 1], consts, num, codes, luts, qual, pre,
                           no_idx, start, m, stack, False, no_mask, no_mask)
                top = stack[0]
                for i in range(m):
                    row[start + i] = top[i]
                start += m


@njit(cache=True)
def _explain(ins, p0, p1, consts, num, codes, luts, qual, pre, idx, depth, block,
             status, fmask, umask):  # pragma: no cover - compiled
    stack = np.empty((depth, block), np.uint8)
    n = idx.shape[0]
    start = 0
    while start < n:
        m = min(block, n - start)
        sub = idx[start:start + m]
        fm = fmask[start:start + m]
        um = umask[start:start + m]
        _run_block(ins, p0, p1, consts, num, codes, luts, qual, pre, sub, 0, m, stack,
                   True, fm, um)
        for i in range(m):
            status[start + i] = stack[0, i]
        start += m


def evaluate_program(program: Program, firms: FirmColumns, block: int = BLOCK) -> np.ndarray:
    """Three-valued verdicts, shape (n_policies, n_firms), firms in ``firms`` (region) order."""
    n_pol = len(program.offsets) - 1
    out = np.zeros((n_pol, firms.n), dtype=np.uint8)
    if n_pol and firms.n:
        _evaluate(program.instructions, program.offsets, program.consts, firms.numeric,
                  firms.codes, program.luts, firms.qualification_mask, program.pre,
                  program.ranges, program.range_offsets, program.depth, block, out)
    return out


def explain_program(
    program: Program, firms: FirmColumns, policy: int, firm_idx: np.ndarray, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verdict plus bit masks of false and unknown leaves for chosen firms of one policy.

    The masks are what explanations are built from; they ignore the validity window
    (callers handle it) and only the first 64 leaves of a policy are tracked.
    """
    idx = np.ascontiguousarray(firm_idx, dtype=np.int64)
    status = np.zeros(len(idx), dtype=np.uint8)
    fmask = np.zeros(len(idx), dtype=np.uint64)
    umask = np.zeros(len(idx), dtype=np.uint64)
    if len(idx):
        _explain(program.instructions, program.offsets[policy], program.offsets[policy + 1],
                 program.consts, firms.numeric, firms.codes, program.luts,
                 firms.qualification_mask, program.pre, idx, program.depth, block,
                 status, fmask, umask)
    return status, fmask, umask
