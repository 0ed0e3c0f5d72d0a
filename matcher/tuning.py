"""Evaluating and tuning a ``PolicyMatcher`` against labelled relevance: tables in, tables out.

The analysts' notebook calls these and plots what they return; the logic lives here so
it is tested, and the notebook stays a sequence of calls.

Two ways to rank are measured:

* ``"recommend"`` — what a firm is shown: eligible and undetermined policies only,
  ranked by the rank key (relevance, then value);
* ``"relevance"`` — the text signal alone: every policy ranked by
  ``decision_function``, eligibility ignored. This isolates what the fusion weights
  change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from matcher.metrics import Labels, ndcg_at_k, ranking_report, recall_at_k, reciprocal_rank

Mode = Literal["recommend", "relevance"]


def labels_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """``{"uscc", "grades": {policy_id: grade}}`` rows → uscc → grades."""
    return {
        str(r["uscc"]): {str(k): float(v) for k, v in r["grades"].items()} for r in records
    }


def rankings(matcher: Any, X: pd.DataFrame, mode: Mode = "recommend") -> dict[str, list[str]]:
    """uscc → ranked policy ids, from a fitted matcher."""
    if mode == "recommend":
        return matcher.rankings(X)
    if mode != "relevance":
        raise ValueError(f"mode must be 'recommend' or 'relevance', got {mode!r}")
    scores = matcher.decision_function(X)
    ids = matcher.policy_ids_
    out = {}
    for u, row in zip(X["uscc"].astype(str), scores, strict=True):
        order = np.lexsort((np.arange(len(ids)), -row))
        out[u] = [str(ids[j]) for j in order]
    return out


def evaluate(
    matcher: Any, X: pd.DataFrame, labels: Mapping[str, Labels], k: int = 10,
    mode: Mode = "recommend",
) -> dict[str, float]:
    """nDCG@k, recall@k and MRR of a fitted matcher on firms ``X``."""
    wanted = {u: labels[u] for u in X["uscc"].astype(str) if u in labels}
    return ranking_report(rankings(matcher, X, mode), wanted, k)


def compare(
    matcher: Any, variants: Mapping[str, Mapping[str, Any]], X: pd.DataFrame,
    labels: Mapping[str, Labels], k: int = 10, modes: Sequence[Mode] = ("recommend", "relevance"),
) -> pd.DataFrame:
    """One row per variant (``name → parameters set on a clone``), one column per metric."""
    rows = []
    for name, params in variants.items():
        m = clone(matcher).set_params(**params).fit(X)
        row: dict[str, Any] = {"variant": name}
        for mode in modes:
            for metric, v in evaluate(m, X, labels, k, mode).items():
                row[metric if mode == "recommend" else f"{metric} (relevance only)"] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def sweep(
    matcher: Any, param: str, values: Iterable[Any], X: pd.DataFrame,
    labels: Mapping[str, Labels], k: int = 10, mode: Mode = "recommend",
    fixed: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Metric against one parameter's values (the others fixed): the data of a curve."""
    rows = []
    for v in values:
        m = clone(matcher).set_params(**{param: v, **(fixed or {})}).fit(X)
        rows.append({param: v, **evaluate(m, X, labels, k, mode)})
    return pd.DataFrame(rows)


def per_group(
    matcher: Any, X: pd.DataFrame, labels: Mapping[str, Labels], groups: Mapping[str, str],
    k: int = 10, mode: Mode = "recommend",
) -> pd.DataFrame:
    """nDCG@k, recall@k and MRR per group of firms (a sector), with the group's size."""
    ranked = rankings(matcher, X, mode)
    rows = []
    for u in X["uscc"].astype(str):
        if u not in labels:
            continue
        lab = labels[u]
        rows.append({
            "group": groups.get(u, ""),
            f"ndcg@{k}": ndcg_at_k(ranked.get(u, []), lab, k),
            f"recall@{k}": recall_at_k(ranked.get(u, []), lab, k),
            "mrr": reciprocal_rank(ranked.get(u, []), lab),
        })
    frame = pd.DataFrame(rows)
    out = frame.groupby("group").mean(numeric_only=True)
    out["firms"] = frame.groupby("group").size()
    return out.sort_values(f"ndcg@{k}", ascending=False)


def recommendation_view(
    matcher: Any, X: pd.DataFrame, names: Mapping[str, str] | None = None,
    titles: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A readable table of recommendations: firm, rank, policy title, status, score, terms."""
    table = matcher.recommend(X)
    view = pd.DataFrame({
        "firm": [(names or {}).get(u, u) for u in table["uscc"]],
        "kind": table["kind"],
        "rank": table["rank"],
        "policy": [(titles or {}).get(p, p) for p in table["policy_id"]],
        "status": table["status"],
        "score": table["score"],
        "amount": table["amount"],
        "terms": ["、".join(w["terms"]) for w in table["why"]],
        "changes": ["；".join(w["changes"]) for w in table["why"]],
    })
    return view


def select(
    matcher: Any, grid: Mapping[str, Sequence[Any]], X: pd.DataFrame,
    labels: Mapping[str, Labels], k: int = 10, mode: Mode = "recommend",
) -> tuple[dict[str, Any], float]:
    """The grid point with the best mean nDCG@k on ``X`` (ties: first in grid order)."""
    from sklearn.model_selection import ParameterGrid

    best: tuple[dict[str, Any], float] = ({}, -1.0)
    for params in ParameterGrid(dict(grid)) if grid else [{}]:
        m = clone(matcher).set_params(**params).fit(X)
        score = evaluate(m, X, labels, k, mode)[f"ndcg@{k}"]
        if score > best[1] + 1e-12:
            best = (dict(params), score)
    return best


def tune_and_report(
    matcher: Any,
    configs: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Sequence[Any]]]],
    tune: tuple[pd.DataFrame, Mapping[str, Labels]],
    test: tuple[pd.DataFrame, Mapping[str, Labels]],
    k: int = 10,
) -> pd.DataFrame:
    """Tune each configuration on ``tune`` and report it on the held-out ``test`` firms.

    ``configs`` maps a name to (fixed parameters, grid searched on the tune firms). The
    table has the chosen parameters, nDCG@k on the tune firms (optimistic: it was
    maximised there) and every metric on the test firms, in both ranking modes.
    """
    rows = []
    for name, (fixed, grid) in configs.items():
        base = clone(matcher).set_params(**fixed)
        params, tune_score = select(base, grid, tune[0], tune[1], k)
        m = clone(base).set_params(**params).fit(tune[0])  # nothing learned from test
        row: dict[str, Any] = {"config": name, "chosen": params, f"tune ndcg@{k}": tune_score}
        for metric, v in evaluate(m, test[0], test[1], k, "recommend").items():
            row[f"test {metric}"] = v
        for metric, v in evaluate(m, test[0], test[1], k, "relevance").items():
            row[f"test {metric} (relevance only)"] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("config")


BM25_GRID: dict[str, list[float]] = {"k1": [0.9, 1.5, 2.0], "b": [0.5, 0.75, 1.0]}
FUSION_GRID: dict[str, list[Any]] = {
    "dense_weight": [0.5, 1.0, 2.0, 3.0], "fusion": ["weighted", "rrf"],
    "k1": [1.2, 2.0], "b": [0.5, 0.75],
}


def signal_configs(
    encoders: Mapping[str, Any],
) -> dict[str, tuple[dict[str, Any], dict[str, list[Any]]]]:
    """The comparison of the relevance report: BM25 alone, each encoder alone, each hybrid.

    ``encoders`` maps a name (``"e5"``, ``"static"``) to an encoder object. Single
    signals get their own grid where they have parameters (BM25's ``k1``, ``b``); each
    hybrid searches the fusion and its BM25 parameters, all on the tune firms only.
    """
    configs: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
        "bm25": ({"encoder": None}, dict(BM25_GRID)),
    }
    for name, enc in encoders.items():
        configs[name] = ({"encoder": enc, "lexical_weight": 0.0}, {})
    for name, enc in encoders.items():
        configs[f"hybrid (bm25 + {name})"] = ({"encoder": enc, "lexical_weight": 1.0},
                                              dict(FUSION_GRID))
    return configs
