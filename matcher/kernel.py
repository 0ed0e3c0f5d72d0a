"""The compiled evaluation kernel (numba).

Vectorised interpretation, firm blocks outermost: the firm table (region-sorted) is cut
into cache-sized blocks; each thread takes a block and runs every policy whose firm
ranges touch it, so the block's columns are read from memory once and then stay in L2
while hundreds of policies read them. Within a block a policy's program runs instruction
by instruction, each instruction one tight loop over the block; those loops are written
once per comparison operator, over contiguous slices, without branches in the body, so
that the compiler turns them into SIMD code. A policy restricted to a region visits only
its region's slice (the index the benchmark numbers asked for).

Explanations (which leaves failed, which were unknown) take the same programs over an
arbitrary set of firms: each leaf first gathers its column for those firms into a small
scratch block and then runs the same loops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import get_num_threads, njit, prange

from matcher.compile import (
    OP_ALL,
    OP_ANY,
    OP_BITS,
    OP_LUT,
    OP_NOT,
    OP_NUM,
    OP_NUM_IN,
    OP_PRE,
    OP_QUAL,
    OP_RANGE,
    Program,
)
from matcher.encode import FirmColumns

# 2048 firms x (18 numbers + 8 codes + 1 mask) ≈ 380 KB: the whole block stays in L2.
BLOCK = 2048


@njit(cache=True, nogil=True)
def _compare(x, v, op, s, m):  # pragma: no cover - compiled
    """s = x <op> v in three values; NaN (unknown) gives 1. One loop per operator.

    ``1 + (x ⋈ v) - (x ⋈' v)`` with ⋈' the complement that is also false on NaN is
    branch-free: true → 2, false → 0, NaN → 1 + 0 - 0.
    """
    if op == 0:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + (xi >= v) - (xi < v))
    elif op == 1:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + (xi > v) - (xi <= v))
    elif op == 2:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + (xi <= v) - (xi > v))
    elif op == 3:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + (xi < v) - (xi >= v))
    elif op == 4:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + (xi == v) - ((xi < v) | (xi > v)))
    else:
        for i in range(m):
            xi = x[i]
            s[i] = np.uint8(1 + ((xi < v) | (xi > v)) - (xi == v))


@njit(cache=True, nogil=True)
def _member(x, consts, start, cnt, neg, s, m):  # pragma: no cover - compiled
    """s = x in consts[start:start+cnt] (negated if ``neg``); NaN gives 1.

    One branch-free pass per listed value: the first sets 2/0/1 like ``==``, the others
    OR in their hits (NaN never hits, so it stays 1).
    """
    _compare(x, consts[start], 4, s, m)
    for q in range(1, cnt):
        v = consts[start + q]
        for i in range(m):
            s[i] |= np.uint8(2 * (x[i] == v))
    if neg:
        for i in range(m):
            s[i] = np.uint8(2) - s[i]


@njit(cache=True, nogil=True)
def _coded(op, xk, luts, b, c, consts, s, m):  # pragma: no cover - compiled
    """A leaf on a coded field (code 0 = unknown) in the form the compiler chose."""
    if op == OP_BITS:
        table = np.uint64(c)
        for i in range(m):
            s[i] = np.uint8((table >> np.uint64(2 * xk[i])) & np.uint64(3))
    elif op == OP_RANGE:
        # First interval decides unknown and writes; later ones only add hits.
        lo = np.int32(consts[b])
        hi = np.int32(consts[b + 1])
        for i in range(m):
            ci = xk[i]
            s[i] = np.uint8(1) if ci == 0 else np.uint8(2 * ((ci >= lo) & (ci < hi)))
        for q in range(1, c):
            lo = np.int32(consts[b + 2 * q])
            hi = np.int32(consts[b + 2 * q + 1])
            for i in range(m):
                ci = xk[i]
                s[i] |= np.uint8(2 * ((ci >= lo) & (ci < hi)))
    else:
        for i in range(m):
            s[i] = luts[b + xk[i]]


@njit(cache=True, nogil=True)
def _run_block(ins, p0, p1, consts, num, codes, luts, qual, pre, idx, base, m, stack,
               xf, xc, xq, xu, track, fmask, umask):  # pragma: no cover - compiled
    """Run instructions p0:p1 over m firms; the verdicts end in ``stack[0, :m]``.

    Firms are ``base .. base+m`` (contiguous slices, the evaluation path) or, when ``idx``
    is non-empty, ``idx[0:m]`` gathered into the scratch blocks ``xf/xc/xq/xu`` first
    (the explanation path). With ``track`` the false/unknown bit of every numbered leaf
    is OR-ed into ``fmask``/``umask``.
    """
    gather = idx.shape[0] > 0
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
                        dst[i] = min(dst[i], src[i])
                else:
                    for i in range(m):
                        dst[i] = max(dst[i], src[i])
            sp = lo + 1
            continue
        if op == OP_NOT:
            dst = stack[sp - 1]
            for i in range(m):
                dst[i] = np.uint8(2) - dst[i]
            continue
        s = stack[sp]
        sp += 1
        if op == OP_NUM or op == OP_NUM_IN:
            if gather:
                col = num[a]
                for i in range(m):
                    xf[i] = col[idx[i]]
                x = xf
            else:
                x = num[a, base:base + m]
            if op == OP_NUM:
                _compare(x, consts[c], b, s, m)
            else:
                _member(x, consts, b, c // 2, c % 2, s, m)
        elif op == OP_LUT or op == OP_BITS or op == OP_RANGE:
            if gather:
                colc = codes[a]
                for i in range(m):
                    xc[i] = colc[idx[i]]
                xk = xc
            else:
                xk = codes[a, base:base + m]
            _coded(op, xk, luts, b, c, consts, s, m)
        elif op == OP_QUAL:
            if gather:
                for i in range(m):
                    xq[i] = qual[idx[i]]
                q = xq
            else:
                q = qual[base:base + m]
            want = np.int64(b)
            for i in range(m):
                has = (q[i] >> a) & 1
                v = np.uint8(2 - 2 * (has ^ want))
                s[i] = np.uint8(1) if q[i] < 0 else v
        elif op == OP_PRE:
            if gather:
                colp = pre[a]
                for i in range(m):
                    xu[i] = colp[idx[i]]
                pv = xu
            else:
                pv = pre[a, base:base + m]
            for i in range(m):
                s[i] = pv[i]
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
              depth, block, block_order, out):  # pragma: no cover - compiled
    n = out.shape[1]
    n_pol = offsets.shape[0] - 1
    no_idx = np.empty(0, np.int64)
    no_mask = np.empty(0, np.uint64)
    for t in prange(block_order.shape[0]):
        start = block_order[t] * block
        end = min(start + block, n)
        stack = np.empty((depth, block), np.uint8)
        xf = np.empty(0, np.float64)
        xc = np.empty(0, np.int32)
        xq = np.empty(0, np.int64)
        xu = np.empty(0, np.uint8)
        for p in range(n_pol):
            row = out[p]
            for r in range(range_offsets[p], range_offsets[p + 1]):
                lo = max(ranges[r, 0], start)
                hi = min(ranges[r, 1], end)
                if lo >= hi:
                    continue
                m = hi - lo
                _run_block(ins, offsets[p], offsets[p + 1], consts, num, codes, luts, qual,
                           pre, no_idx, lo, m, stack, xf, xc, xq, xu, False, no_mask, no_mask)
                top = stack[0]
                dst = row[lo:hi]  # a view: ``row[lo + i]`` would not vectorise
                for i in range(m):
                    dst[i] = top[i]


@njit(cache=True)
def _explain(ins, p0, p1, consts, num, codes, luts, qual, pre, idx, depth, block,
             status, fmask, umask):  # pragma: no cover - compiled
    stack = np.empty((depth, block), np.uint8)
    xf = np.empty(block, np.float64)
    xc = np.empty(block, np.int32)
    xq = np.empty(block, np.int64)
    xu = np.empty(block, np.uint8)
    n = idx.shape[0]
    start = 0
    while start < n:
        m = min(block, n - start)
        sub = idx[start:start + m]
        fm = fmask[start:start + m]
        um = umask[start:start + m]
        _run_block(ins, p0, p1, consts, num, codes, luts, qual, pre, sub, 0, m, stack,
                   xf, xc, xq, xu, True, fm, um)
        top = stack[0]
        dst = status[start:start + m]
        for i in range(m):
            dst[i] = top[i]
        start += m


def _block_order(n_blocks: int, threads: int) -> np.ndarray:
    """Blocks dealt round-robin so that each thread's static share mixes every region.

    ``prange`` hands each thread one contiguous run of iterations; in region order that
    would give one thread all of 长沙 (where most policies apply) and the other the quiet
    prefectures. Dealing blocks like cards evens the work without a dynamic scheduler.
    """
    threads = max(1, threads)
    return np.concatenate(
        [np.arange(t, n_blocks, threads, dtype=np.int64) for t in range(threads)]
    )


def evaluate_program(program: Program, firms: FirmColumns, block: int = BLOCK) -> np.ndarray:
    """Three-valued verdicts, shape (n_policies, n_firms), firms in ``firms`` (region) order.

    Firms outside every range of a policy (another region, or the policy is outside its
    validity window) are false: the output starts as zeros, which the operating system
    provides without a pass over memory, and only visited slices are written.
    """
    n_pol = len(program.offsets) - 1
    out = np.zeros((n_pol, firms.n), dtype=np.uint8)
    if n_pol and firms.n:
        n_blocks = -(-firms.n // block)
        _evaluate(program.instructions, program.offsets, program.consts, firms.numeric,
                  firms.codes, program.luts, firms.qualification_mask, program.pre,
                  program.ranges, program.range_offsets, program.depth, block,
                  _block_order(n_blocks, get_num_threads()), out)
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


def explain_patterns(
    program: Program, firms: FirmColumns, policy: int, firm_idx: np.ndarray, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (false-mask, unknown-mask) patterns among chosen firms, and each firm's.

    Returns ``(fmask, umask, inverse)`` with ``fmask[inverse[i]]``/``umask[inverse[i]]``
    the masks of firm ``firm_idx[i]``. A million undetermined firms share a few dozen
    patterns, so reasons are worded once per pattern; hashing the masks is linear, where
    ``np.unique(..., axis=0)`` sorts rows as opaque bytes and dominated the run.
    """
    _, fmask, umask = explain_program(program, firms, policy, firm_idx, block)
    if len(program.leaves[policy]) <= 32:
        codes, keys = pd.factorize((fmask << np.uint64(32)) | umask, sort=True)
        return keys >> np.uint64(32), keys & np.uint64(0xFFFFFFFF), codes.astype(np.intp)
    order = np.lexsort((umask, fmask))
    f, u = fmask[order], umask[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (f[1:] != f[:-1]) | (u[1:] != u[:-1])
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return f[first], u[first], inverse
