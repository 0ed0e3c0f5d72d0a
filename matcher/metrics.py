"""Ranking metrics for recommendations: nDCG@k, recall@k and MRR, per firm and averaged.

A firm's ranking is a list of policy ids, best first; its labels map policy ids to
graded relevance (0 = not relevant, 1 = related, 2 = exactly what the firm does …).
Ids absent from the labels count as grade 0.

nDCG's ideal ranking is built from *all* labelled policies of the firm, including any
the recommender may not show (an ineligible one): a policy the firm cannot get still
costs the ranking credit, so the figures stay comparable between methods that filter
differently. A firm with no relevant policy at all has no defined nDCG, recall or
reciprocal rank; it is left out of the means (NaN per firm).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

Gain = Literal["exponential", "linear"]
Labels = Mapping[str, float]


def _gains(grades: np.ndarray, gain: Gain) -> np.ndarray:
    if gain == "exponential":
        return np.power(2.0, grades) - 1.0
    if gain == "linear":
        return grades
    raise ValueError(f"gain must be 'exponential' or 'linear', got {gain!r}")


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2))


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def ndcg_at_k(
    ranked: Sequence[str], labels: Labels, k: int = 10, gain: Gain = "exponential"
) -> float:
    """Normalised discounted cumulative gain of the first ``k`` of ``ranked``.

    ``gain="exponential"`` uses 2^grade − 1 (Burges et al. 2005: a grade-2 policy is
    worth three grade-1 ones); ``"linear"`` uses the grade itself (as scikit-learn's
    ``ndcg_score``).
    """
    _check_k(k)
    grades = np.array([float(v) for v in labels.values() if v > 0])
    if len(grades) == 0:
        return float("nan")
    ideal = np.sort(_gains(grades, gain))[::-1][:k]
    idcg = float(ideal @ _discounts(len(ideal)))
    top = [float(labels.get(p, 0.0)) for p in list(dict.fromkeys(ranked))[:k]]
    got = _gains(np.array(top, dtype=np.float64), gain) if top else np.zeros(0)
    dcg = float(got @ _discounts(len(got))) if len(got) else 0.0
    return dcg / idcg


def recall_at_k(ranked: Sequence[str], labels: Labels, k: int = 10) -> float:
    """Share of the firm's relevant policies (grade > 0) found in the first ``k``."""
    _check_k(k)
    relevant = {p for p, v in labels.items() if v > 0}
    if not relevant:
        return float("nan")
    return len(relevant.intersection(list(dict.fromkeys(ranked))[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], labels: Labels) -> float:
    """1 / position of the first relevant policy (0 when none is ranked)."""
    relevant = {p for p, v in labels.items() if v > 0}
    if not relevant:
        return float("nan")
    for i, p in enumerate(dict.fromkeys(ranked), start=1):
        if p in relevant:
            return 1.0 / i
    return 0.0


def _mean(values: Iterable[float]) -> float:
    arr = np.array(list(values), dtype=np.float64)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return 0.0
    return float(np.nanmean(arr))


def mean_ndcg(
    rankings: Mapping[str, Sequence[str]], labels: Mapping[str, Labels], k: int = 10,
    gain: Gain = "exponential",
) -> float:
    """Mean nDCG@k over the firms in ``labels`` (a firm without a ranking scores 0)."""
    return _mean(ndcg_at_k(rankings.get(f, ()), lab, k, gain) for f, lab in labels.items())


def mean_recall(
    rankings: Mapping[str, Sequence[str]], labels: Mapping[str, Labels], k: int = 10
) -> float:
    return _mean(recall_at_k(rankings.get(f, ()), lab, k) for f, lab in labels.items())


def mean_reciprocal_rank(
    rankings: Mapping[str, Sequence[str]], labels: Mapping[str, Labels]
) -> float:
    """MRR over the firms in ``labels``."""
    return _mean(reciprocal_rank(rankings.get(f, ()), lab) for f, lab in labels.items())


def ranking_report(
    rankings: Mapping[str, Sequence[str]], labels: Mapping[str, Labels], k: int = 10
) -> dict[str, float]:
    """``{"ndcg@k", "recall@k", "mrr"}`` in one call, the row of a comparison table."""
    return {
        f"ndcg@{k}": mean_ndcg(rankings, labels, k),
        f"recall@{k}": mean_recall(rankings, labels, k),
        "mrr": mean_reciprocal_rank(rankings, labels),
    }
