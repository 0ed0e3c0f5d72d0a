"""Per-firm recommendations: eligible and undetermined policies, ranked, each explained.

Two signals stay visible side by side in every recommendation: ``status`` (may the firm
get it: ``eligible`` / ``undetermined``) and ``score`` (is the policy about what the
firm does: text relevance plus the share of the policy's 优先支持 preferences it meets,
in [0, 1]). They are never blended into one "match %". Ineligible policies are never
among the matches; the most relevant ones that a small, attainable change would open
are listed apart as ``near_miss``, with that change spelled out.

Ranking: by ``score`` as published (4 decimals), highest first; policies with the same
published score by estimated ``amount``, largest first (unknown counts as none); then
catalogue order. So every list reads in descending ``score``, and money decides only
between policies the firm cannot tell apart by relevance — there is no hidden blended
key behind the order (an earlier version ranked by 0.9 · score + 0.1 · log-amount, which
put a policy below one with a lower shown score).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from matcher.eligibility import Evaluation, leaf_matrix
from matcher.encode import NUMERIC_FIELDS
from matcher.explain import describe
from matcher.logic import FALSE, STATUS_NAMES, TRUE
from matcher.policy import Policy
from matcher.why import (
    FirmFigures,
    attainable,
    change_sentence,
    reasons,
    repairable,
    smallest_change,
)

MATCH = "match"
NEAR_MISS = "near_miss"
SCORE_DECIMALS = 4  # ``score`` as published, and as ranked
# Amounts up to this (¥10万亿) stay distinct in the tie-break; larger ones tie.
AMOUNT_CEILING = 1e13
REASON_CACHE_SIZE = 200_000  # explanations kept between batches (cleared when exceeded)


class RecommendColumns:
    """Column names of the recommendation table (contract names where they exist)."""

    USCC = "uscc"
    KIND = "kind"
    RANK = "rank"
    POLICY_ID = "policy_id"
    STATUS = "status"
    SCORE = "score"
    AMOUNT = "amount"
    WHY = "why"
    ALL = (USCC, KIND, RANK, POLICY_ID, STATUS, SCORE, AMOUNT, WHY)


@dataclass(frozen=True)
class RecommendSettings:
    """How many to show and how near a near miss must be (see ``PolicyMatcher``)."""

    top_k: int = 10
    near_misses: int = 3
    near_miss_gap: float = 0.3
    near_miss_pool: int = 12
    n_terms: int = 5


def published_scores(score: np.ndarray) -> np.ndarray:
    """``score`` rounded as it is published; the ranking uses exactly these numbers."""
    return np.round(np.asarray(score, dtype=np.float64), SCORE_DECIMALS)


def rank_keys(score: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """One float per (firm, policy) that orders by published score, then by amount.

    The published score is a whole number of 1e-4 steps; the amount adds less than one
    step (log scale, 0 for unknown or none, just under 1 at ``AMOUNT_CEILING``), so it
    only orders policies whose published scores are equal. Amounts closer than about
    one part in 10⁹ (¥1 at ¥10亿) tie, and fall back to catalogue order.
    """
    steps = np.rint(published_scores(score) * 10**SCORE_DECIMALS)
    a = np.nan_to_num(np.asarray(amounts, dtype=np.float64), nan=0.0, neginf=0.0, posinf=0.0)
    value = np.log1p(np.clip(a, 0.0, AMOUNT_CEILING)) / math.log1p(AMOUNT_CEILING)
    return steps + 0.5 * value


def top_per_row(key: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, valid) of the ``k`` best masked entries per row, best first.

    Ties are broken by column (policy catalogue order), so output is deterministic.
    """
    n_rows, n_cols = key.shape
    k = min(k, n_cols)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64), np.zeros((n_rows, 0), dtype=bool)
    masked = np.where(mask & ~np.isnan(key), key, -np.inf)
    if k < n_cols:
        # argpartition picks arbitrarily among entries tied with the k-th best; take every
        # entry above it and then the tied ones in column order, exactly k per row.
        kth = -np.partition(-masked, k - 1, axis=1)[:, k - 1:k]
        above = masked > kth
        tied = masked == kth
        room = k - above.sum(axis=1, keepdims=True)
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
        part = np.nonzero(chosen)[1].reshape(n_rows, k)
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(masked, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    cols = np.take_along_axis(part, order, axis=1)
    valid = np.isfinite(np.take_along_axis(vals, order, axis=1))
    return cols.astype(np.int64), valid


def _amount(v: float) -> float | int | None:
    if v != v or v in (float("inf"), float("-inf")):
        return None
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def preference_texts(policies: Sequence[Policy]) -> list[list[str]]:
    """Per policy, each 优先支持 preference as ``why`` lists it when met."""
    out = []
    for p in policies:
        texts = []
        for pref in p.preferences:
            texts.append("；".join(dict.fromkeys(describe(leaf) for leaf in pref.leaves())))
        out.append(texts)
    return out


def recommend_batch(
    ev: Evaluation,
    preference_status: np.ndarray,
    preference_owner: np.ndarray,
    score: np.ndarray,
    terms: Callable[[int, list[int]], list[list[str]]],
    settings: RecommendSettings,
    amount_matrix: np.ndarray,
    near_miss_candidates: np.ndarray | None = None,
    reason_cache: dict[tuple[int, bytes], dict[str, list[str]]] | None = None,
    pref_texts: list[list[str]] | None = None,
) -> pd.DataFrame:
    """The recommendation table for one batch of firms, in input order of the firms.

    Parameters
    ----------
    ev, preference_status, preference_owner
        From :meth:`matcher.catalogue.CompiledCatalogue.evaluate` (region order).
    score
        Relevance in [0, 1], (n_firms, n_policies), firms in *input* order.
    terms
        ``(firm_row, policy indices) -> matched terms per policy`` (input order), from
        BM25.
    amount_matrix
        Estimated amounts (n_policies, n_firms), region order
        (:meth:`matcher.catalogue.CompiledCatalogue.amounts`).
    near_miss_candidates
        Policies that can be near misses at all (bool, n_policies): valid on ``as_of``
        and with an attainable requirement. Computed here when not given.
    reason_cache
        Explanations by (policy, leaf values), kept by the caller across batches: they
        depend on nothing else, and one-firm requests meet the same patterns again.
    pref_texts
        :func:`preference_texts` of ``ev.policies``, computed once by the caller's
        catalogue (2,000 policies take milliseconds); computed here when not given.
    """
    n_pol, n = ev.status.shape
    pos = np.empty(n, dtype=np.int64)
    pos[ev.firms.order] = np.arange(n)  # input row -> region-sorted position
    status = ev.status[:, pos].T  # (n_firms, n_policies), input order
    amounts = amount_matrix[:, pos].T  # (n_firms, n_policies), input order
    candidates = near_miss_candidates
    if candidates is None:
        candidates = np.array([
            p.conditions is not None and p.valid_on(ev.as_of)
            and any(attainable(leaf) for leaf in p.conditions.leaves())
            for p in ev.policies
        ], dtype=bool)
    published = published_scores(score)
    key = rank_keys(score, amounts)
    match_cols, match_ok = top_per_row(key, status != FALSE, settings.top_k)
    pool = settings.near_miss_pool if settings.near_misses > 0 else 0
    near_cols, near_ok = top_per_row(key, (status == FALSE) & candidates[None, :], pool)

    # Group the pairs that need leaf values by policy, to run the kernel once per policy.
    need: dict[int, list[int]] = {}
    for cols, ok in ((match_cols, match_ok), (near_cols, near_ok)):
        for i, j in zip(*np.nonzero(ok), strict=True):
            need.setdefault(int(cols[i, j]), []).append(int(i))
    leaf_rows: dict[tuple[int, int], np.ndarray] = {}
    for p, rows in need.items():
        policy = ev.policies[p]
        leaves = ev.program.leaves[p]
        if policy.conditions is None or not leaves:
            continue
        rows = sorted(set(rows))
        matrix = leaf_matrix(ev, p, leaves, pos[np.array(rows, dtype=np.int64)])
        for r, vals in zip(rows, matrix, strict=True):
            leaf_rows[(r, p)] = vals

    if pref_texts is None:
        pref_texts = preference_texts(ev.policies)
    pref_rows_of: list[list[int]] = [[] for _ in range(n_pol)]
    for k, owner in enumerate(preference_owner):
        pref_rows_of[int(owner)].append(k)
    if reason_cache is None:
        reason_cache = {}
    elif len(reason_cache) > REASON_CACHE_SIZE:
        reason_cache.clear()

    def explain(i: int, p: int, matched: list[str]) -> dict[str, list[str]]:
        vals = leaf_rows.get((i, p))
        base: dict[str, list[str]]
        if vals is None:
            base = {"met": [], "unmet": [], "unknown": [], "missing": []}
        else:
            ck = (p, vals.tobytes())
            if ck not in reason_cache:
                policy = ev.policies[p]
                reason_cache[ck] = reasons(policy.conditions, ev.program.leaves[p], list(vals))
            base = {k: list(v) for k, v in reason_cache[ck].items()}
        met_prefs = [
            pref_texts[p][j] for j, k in enumerate(pref_rows_of[p])
            if preference_status[k, pos[i]] == TRUE
        ]
        base["preferences"] = met_prefs
        base["terms"] = matched
        base["changes"] = []
        return base

    frame = ev.firms.frame
    founded = (
        frame["established_on"].astype(object).to_numpy() if "established_on" in frame.columns
        else np.full(n, None, dtype=object)
    )

    def figures(i: int) -> FirmFigures:
        col = ev.firms.numeric[:, pos[i]]
        raw = founded[pos[i]]
        est = dt.date.fromisoformat(raw[:10]) if isinstance(raw, str) and raw else None
        return FirmFigures(dict(zip(NUMERIC_FIELDS, col.tolist(), strict=True)), est)

    movable_cache: dict[tuple[int, bytes], bool] = {}

    def movable(p: int, vals: np.ndarray) -> bool:
        key = (p, vals.tobytes())
        if key not in movable_cache:
            movable_cache[key] = repairable(
                ev.policies[p].conditions, ev.program.leaves[p], list(vals)
            )
        return movable_cache[key]

    names = np.array([STATUS_NAMES[k] for k in range(3)], dtype=object)
    records: list[dict[str, Any]] = []
    uscc_in = ev.firms.uscc[pos]
    for i in range(n):
        rank = 0
        shown = [int(match_cols[i, j]) for j in np.flatnonzero(match_ok[i])]
        matched = terms(i, shown) if shown else []
        for p, words in zip(shown, matched, strict=True):
            rank += 1
            records.append({
                RecommendColumns.USCC: uscc_in[i], RecommendColumns.KIND: MATCH,
                RecommendColumns.RANK: rank, RecommendColumns.POLICY_ID: ev.policies[p].id,
                RecommendColumns.STATUS: names[status[i, p]],
                RecommendColumns.SCORE: float(published[i, p]),
                RecommendColumns.AMOUNT: _amount(amounts[i, p]),
                RecommendColumns.WHY: explain(i, p, words),
            })
        if settings.near_misses <= 0:
            continue
        found = 0
        firm = None
        for j in np.flatnonzero(near_ok[i]):
            p = int(near_cols[i, j])
            vals = leaf_rows.get((i, p))
            if vals is None or not movable(p, vals):
                continue
            firm = firm or figures(i)
            cost, changes, after = smallest_change(
                ev.policies[p].conditions, ev.program.leaves[p], list(vals), firm
            )
            if not changes or cost > settings.near_miss_gap:
                continue
            why = explain(i, p, terms(i, [p])[0])
            why["changes"] = [change_sentence(changes, after)]
            found += 1
            records.append({
                RecommendColumns.USCC: uscc_in[i], RecommendColumns.KIND: NEAR_MISS,
                RecommendColumns.RANK: found, RecommendColumns.POLICY_ID: ev.policies[p].id,
                RecommendColumns.STATUS: names[FALSE],
                RecommendColumns.SCORE: float(published[i, p]),
                RecommendColumns.AMOUNT: _amount(amounts[i, p]),
                RecommendColumns.WHY: why,
            })
            if found >= settings.near_misses:
                break
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RecommendColumns.ALL})
    return pd.DataFrame.from_records(records, columns=list(RecommendColumns.ALL))


def firm_lines(table: pd.DataFrame, usccs: Any) -> list[dict[str, Any]]:
    """DATA.md §6 lines: ``{"uscc", "matches": [...], "near_misses": [...]}`` per firm.

    Every firm in ``usccs`` gets a line, in that order, even with no match.
    """
    fields = (
        RecommendColumns.POLICY_ID, RecommendColumns.STATUS, RecommendColumns.SCORE,
        RecommendColumns.AMOUNT, RecommendColumns.WHY,
    )
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    cols = [table[c].tolist() for c in (RecommendColumns.USCC, RecommendColumns.KIND, *fields)]
    # A column holding None beside numbers comes back as float NaN, which is not JSON:
    # unknown amounts are written as null and whole yuan as integers.
    amount_at = 2 + fields.index(RecommendColumns.AMOUNT)
    cols[amount_at] = [None if v is None else _amount(v) for v in cols[amount_at]]
    for uscc, kind, *vals in zip(*cols, strict=True):
        entry = grouped.setdefault(uscc, {MATCH: [], NEAR_MISS: []})
        entry[kind].append(dict(zip(fields, vals, strict=True)))
    out = []
    for u in usccs:
        g = grouped.get(u, {MATCH: [], NEAR_MISS: []})
        out.append({"uscc": u, "matches": g[MATCH], "near_misses": g[NEAR_MISS]})
    return out
