"""Combining relevance signals: reciprocal-rank fusion and a weighted sum of scores.

Every signal is a (n_firms, n_policies) matrix; both fusions work row by row (per firm),
so a signal's scale never has to be comparable across firms, and both return values in
[0, 1].

* :func:`weighted_sum` rescales each signal per firm to [0, 1] (min–max over the
  catalogue, dividing by at least a typical span so a firm with only weak matches keeps
  low scores) and averages them with the given weights. It keeps score *gaps*: a policy
  far ahead lexically stays far ahead.
* :func:`reciprocal_rank_fusion` (Cormack, Clarke & Büttcher 2009) uses only ranks,
  ``Σ w / (k + rank)``, divided by its maximum ``Σ w / (k + 1)``. It is immune to badly
  scaled signals (BM25 is unbounded, e5 cosines crowd into [0.7, 0.9]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Fusion = Literal["weighted", "rrf"]


def _check(signals: Sequence[np.ndarray], weights: Sequence[float]) -> None:
    if len(signals) != len(weights):
        raise ValueError(f"{len(signals)} signals but {len(weights)} weights")
    if not signals:
        raise ValueError("at least one signal is needed")
    shape = signals[0].shape
    if any(s.shape != shape for s in signals) or len(shape) != 2:
        raise ValueError("signals must be 2-D arrays of one shape (n_firms, n_policies)")
    if any((not np.isfinite(w)) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and ≥ 0, got {list(weights)}")


def minmax_rows(scores: np.ndarray, min_span: float = 0.0) -> np.ndarray:
    """Rescale each row to [0, 1] by its minimum and span; a constant row becomes zeros.

    ``min_span`` is the smallest span a row is divided by. Without it every firm's best
    policy scores 1, however weak the match (a snack bar's best policy matches on
    "制品"); with the typical span of real firms there (``PolicyMatcher`` learns it in
    ``fit``), a firm whose scores barely spread keeps low values.
    """
    s = np.asarray(scores, dtype=np.float64)
    lo = s.min(axis=1, keepdims=True) if s.shape[1] else np.zeros((s.shape[0], 1))
    hi = s.max(axis=1, keepdims=True) if s.shape[1] else np.zeros((s.shape[0], 1))
    span = np.maximum(hi - lo, min_span)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 0.0)
    return out


def typical_span(scores: np.ndarray) -> float:
    """Median over rows of (max − min): the spread of a signal for a typical firm."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return 0.0
    return float(np.median(s.max(axis=1) - s.min(axis=1)))


def rank_rows(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each column within its row, best (highest) first.

    Ties share the best rank of their group (competition ranking), so two policies a
    signal cannot tell apart get the same fused credit.
    """
    s = np.asarray(scores, dtype=np.float64)
    n_rows, n_cols = s.shape
    order = np.argsort(-s, axis=1, kind="stable")
    sorted_vals = np.take_along_axis(s, order, axis=1)
    pos = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    new_group = np.ones_like(sorted_vals, dtype=bool)
    if n_cols > 1:
        new_group[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    first = np.where(new_group, pos, 0)
    first = np.maximum.accumulate(first, axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, first + 1, axis=1)
    return ranks


def weighted_sum(
    signals: Sequence[np.ndarray], weights: Sequence[float],
    min_spans: Sequence[float] | None = None,
) -> np.ndarray:
    """Weighted mean of per-firm min–max rescaled signals, in [0, 1]."""
    _check(signals, weights)
    spans = list(min_spans) if min_spans is not None else [0.0] * len(signals)
    if len(spans) != len(signals):
        raise ValueError(f"{len(signals)} signals but {len(spans)} minimum spans")
    total = float(sum(weights))
    out = np.zeros(signals[0].shape, dtype=np.float64)
    if total == 0:
        return out
    for s, w, m in zip(signals, weights, spans, strict=True):
        if w:
            out += w * minmax_rows(s, m)
    return out / total


def reciprocal_rank_fusion(
    signals: Sequence[np.ndarray], weights: Sequence[float], k: float = 60.0
) -> np.ndarray:
    """Weighted reciprocal-rank fusion, divided by its maximum, in (0, 1].

    A row on which a signal is constant gives every policy rank 1 from that signal:
    it adds the same to each, which keeps the order the other signals set.
    """
    _check(signals, weights)
    if not (np.isfinite(k) and k >= 0):
        raise ValueError(f"k must be a finite number ≥ 0, got {k!r}")
    total = float(sum(weights))
    out = np.zeros(signals[0].shape, dtype=np.float64)
    if total == 0:
        return out
    for s, w in zip(signals, weights, strict=True):
        if w:
            out += w / (k + rank_rows(s))
    return out / (total / (k + 1))


def fuse(
    signals: Sequence[np.ndarray], weights: Sequence[float], method: Fusion = "weighted",
    rrf_k: float = 60.0, min_spans: Sequence[float] | None = None,
) -> np.ndarray:
    """Either fusion by name (the ``fusion`` parameter of ``PolicyMatcher``).

    ``min_spans`` applies to the weighted sum; rank fusion has no scale to calibrate.
    """
    if method == "weighted":
        return weighted_sum(signals, weights, min_spans)
    if method == "rrf":
        return reciprocal_rank_fusion(signals, weights, rrf_k)
    raise ValueError(f"fusion must be 'weighted' or 'rrf', got {method!r}")
