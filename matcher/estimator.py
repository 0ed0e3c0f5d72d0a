"""``PolicyMatcher``: eligibility and relevance as one scikit-learn estimator.

Rows are firms (a profile DataFrame with the contract's column names); the policy
catalogue is a constructor parameter, like ``CountVectorizer(vocabulary=...)``: it is
the fixed reference data that defines the model. ``fit`` compiles the catalogue's
condition trees and indexes its texts (BM25, and document vectors when an encoder is
given); nothing is learned from the firms, so ``fit`` accepts and ignores ``y``.

Everything tunable is a parameter, so ``GridSearchCV`` can search fusion weights and
BM25 settings against labelled relevance (``score`` is mean nDCG@k). Models are not
loaded here: an encoder object (anything with ``encode_queries`` / ``encode_documents``,
e.g. ``embeddings.encoder.TextEmbedder``) and a tokenizer are parameters. Wrap a fitted
encoder in ``sklearn.frozen.FrozenEstimator`` or :class:`matcher.dense.MemoizedEncoder`
so grid-search clones share it instead of reloading the model.

Eligibility and relevance stay two signals: :meth:`eligibility` gives statuses (with
relevance in the ``score`` column), :meth:`decision_function` relevance alone, and
:meth:`recommend` both, side by side, per recommended policy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from matcher.catalogue import CompiledCatalogue
from matcher.eligibility import Columns, eligibility_table
from matcher.fusion import Fusion
from matcher.lexical import Tokenize
from matcher.metrics import mean_ndcg
from matcher.policy import Policy
from matcher.recommend import (
    MATCH,
    RecommendColumns,
    RecommendSettings,
    firm_lines,
    recommend_batch,
)
from matcher.relevance import RelevanceIndex, TextSignals, relevance_scores, signal_spans
from matcher.texts import firm_texts, policy_texts
from matcher.tokenizer import ChineseTokenizer

_PARAMS: dict[str, tuple[Any, float | None, float | None]] = {
    # name: (types, minimum, maximum); None = unbounded
    "lexical_weight": (numbers.Real, 0.0, None),
    "dense_weight": (numbers.Real, 0.0, None),
    "preference_weight": (numbers.Real, 0.0, 1.0),
    "rrf_k": (numbers.Real, 0.0, None),
    "k1": (numbers.Real, 0.0, None),
    "b": (numbers.Real, 0.0, 1.0),
    "near_miss_gap": (numbers.Real, 0.0, None),
    "top_k": (numbers.Integral, 1, None),
    "near_misses": (numbers.Integral, 0, None),
    "n_terms": (numbers.Integral, 0, None),
    "score_k": (numbers.Integral, 1, None),
    "batch_size": (numbers.Integral, 1, None),
    "calibration_size": (numbers.Integral, 0, None),
}


class PolicyMatcher(BaseEstimator):
    """Match firms (rows) to a policy catalogue: who may get what, and what fits them.

    Parameters
    ----------
    policies : sequence of Policy
        The catalogue (``policies.read.read_policies`` gives it from JSONL).
    as_of : datetime.date
        Evaluation date: validity windows, firm ages and qualifications are judged on it.
    size_standard : DataFrame
        《中小企业划型标准规定》 thresholds (``profiles.reference.size_standard()``).
    industry_names : mapping of str to str, optional
        GB/T 4754 code → name (``profiles.reference.industry_names()``), so that a
        firm's industry and a policy's target industries take part in text relevance.
    tokenizer : callable, optional
        ``text -> terms``; a :class:`~matcher.tokenizer.ChineseTokenizer` when None.
    encoder : object, optional
        Dense encoder with ``encode_queries`` / ``encode_documents``; None = BM25 only.
    lexical_weight, dense_weight : float
        Weights of BM25 and of the dense signal in the fusion (≥ 0).
    fusion : {"weighted", "rrf"}
        Weighted mean of per-firm min–max scaled signals, or reciprocal-rank fusion.
    rrf_k : float
        The ``k`` of reciprocal-rank fusion (60 in the original paper).
    k1, b : float
        BM25 term saturation and length normalisation.
    preference_weight : float in [0, 1]
        Share of the score given to meeting the policy's 优先支持 preferences.
    top_k : int
        Recommendations per firm.
    near_misses : int
        Ineligible-but-close policies listed per firm (0 to skip the search).
    near_miss_gap : float
        Largest total relative gap a near miss may have (0.3: within 30 % of each
        threshold it fails, summed).
    n_terms : int
        Matched terms shown per recommendation.
    score_k : int
        The ``k`` of nDCG@k in :meth:`score`.
    batch_size : int
        Firms per batch in :meth:`recommend`, bounding memory on large runs.
    calibration_size : int
        Firms of ``X`` (evenly spaced rows, at most this many) whose score spread ``fit``
        measures, so that the weighted fusion does not stretch a firm's weak matches to
        1 (see ``matcher.fusion.minmax_rows``). 0, or fitting without ``X``, turns it off:
        every firm's best policy then scores 1.

    Attributes
    ----------
    policy_ids_ : ndarray of str
        The catalogue's ids: the columns of :meth:`decision_function`.
    catalogue_ : CompiledCatalogue
        Compiled condition trees and preferences.
    relevance_ : RelevanceIndex
        BM25 index and document vectors of the policy texts.
    score_spans_ : tuple of float
        Typical per-firm spread of the (BM25, dense) scores on the calibration firms.
    """

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        as_of: dt.date | None = None,
        size_standard: pd.DataFrame | None = None,
        industry_names: Mapping[str, str] | None = None,
        tokenizer: Tokenize | None = None,
        encoder: Any | None = None,
        lexical_weight: float = 1.0,
        dense_weight: float = 1.0,
        fusion: Fusion = "weighted",
        rrf_k: float = 60.0,
        k1: float = 1.5,
        b: float = 0.75,
        preference_weight: float = 0.1,
        top_k: int = 10,
        near_misses: int = 3,
        near_miss_gap: float = 0.3,
        n_terms: int = 5,
        score_k: int = 10,
        batch_size: int = 5000,
        calibration_size: int = 2000,
    ) -> None:
        self.policies = policies
        self.as_of = as_of
        self.size_standard = size_standard
        self.industry_names = industry_names
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.lexical_weight = lexical_weight
        self.dense_weight = dense_weight
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.k1 = k1
        self.b = b
        self.preference_weight = preference_weight
        self.top_k = top_k
        self.near_misses = near_misses
        self.near_miss_gap = near_miss_gap
        self.n_terms = n_terms
        self.score_k = score_k
        self.batch_size = batch_size
        self.calibration_size = calibration_size

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - scikit-learn's name
        """Changed parameters only, with the reference data summarised, not spelled out."""
        defaults = inspect.signature(type(self).__init__).parameters
        parts = []
        for key, value in self.get_params(deep=False).items():
            default = defaults[key].default
            if value is default or (
                isinstance(value, int | float | str) and not isinstance(value, bool)
                and value == default
            ):
                continue
            if key == "policies":
                text = f"<{len(value)} policies>"
            elif key == "industry_names":
                text = f"<{len(value)} GB/T 4754 names>"
            elif key == "size_standard":
                text = "<SME size table>"
            else:
                text = repr(value)
            parts.append(f"{key}={text}")
        out = f"{type(self).__name__}({', '.join(parts)})"
        return out if len(out) <= N_CHAR_MAX else out[: N_CHAR_MAX - 4] + " …)"

    # -- validation ---------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.policies is None:
            raise ValueError("PolicyMatcher needs policies=[Policy, …] (the catalogue)")
        if not all(isinstance(p, Policy) for p in self.policies):
            raise TypeError("policies must be matcher.policy.Policy records")
        ids = [p.id for p in self.policies]
        if len(set(ids)) != len(ids):
            raise ValueError("policy ids must be unique in the catalogue")
        if not isinstance(self.as_of, dt.date) or isinstance(self.as_of, dt.datetime):
            raise ValueError(f"as_of must be a datetime.date, got {self.as_of!r}")
        if not isinstance(self.size_standard, pd.DataFrame):
            raise ValueError(
                "size_standard must be the SME size table (profiles.reference.size_standard())"
            )
        if self.fusion not in ("weighted", "rrf"):
            raise ValueError(f"fusion must be 'weighted' or 'rrf', got {self.fusion!r}")
        for name, (types, lo, hi) in _PARAMS.items():
            v: Any = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, types) or not np.isfinite(float(v)):
                raise ValueError(f"{name} must be a {'whole ' if types is numbers.Integral else ''}"
                                 f"number, got {v!r}")
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                bounds = f"[{lo}, {'∞' if hi is None else hi}]"
                raise ValueError(f"{name} must be in {bounds}, got {v!r}")

    def _check_frame(self, X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                "X must be a DataFrame of firm profiles (profiles.read.profiles_frame), "
                f"got {type(X).__name__}"
            )
        if "uscc" not in X.columns:
            raise ValueError("X needs a 'uscc' column (DATA.md §1)")
        return X

    # -- fitting ------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame | None = None, y: Any = None) -> PolicyMatcher:
        """Compile the catalogue, index its texts, and calibrate score scales on ``X``.

        The model is defined by the catalogue; from the firms ``X`` (optional) it only
        learns how widely text scores spread for a typical firm (``score_spans_``).
        ``y`` is ignored: it is accepted so the matcher fits in ``Pipeline`` and
        ``GridSearchCV``.
        """
        self._check_params()
        if X is not None:
            self._check_frame(X)
        assert self.policies is not None and self.as_of is not None
        policies = list(self.policies)
        self.policy_ids_ = np.array([p.id for p in policies], dtype=object)
        self.catalogue_ = CompiledCatalogue.build(policies, self.as_of)
        self.tokenizer_ = self.tokenizer if self.tokenizer is not None else ChineseTokenizer()
        self.policy_texts_ = policy_texts(policies, self.industry_names)
        self.relevance_ = RelevanceIndex(
            self.policy_texts_, self.tokenizer_, self.encoder, self.k1, self.b
        )
        self.score_spans_: tuple[float, float] = (0.0, 0.0)
        if X is not None and len(X) and self.calibration_size:
            n = len(X)
            rows = np.unique(np.linspace(0, n - 1, min(n, int(self.calibration_size))).round())
            sample = X.iloc[rows.astype(np.int64)]
            self.score_spans_ = signal_spans(
                self.relevance_.signals(firm_texts(sample, self.industry_names))
            )
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "catalogue_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a firm profile frame, not a numeric matrix
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True  # missing means unknown (DATA.md §1)
        tags.target_tags.required = False
        tags.no_validation = True  # X is checked against the contract, not as an array
        return tags

    # -- signals ------------------------------------------------------------------------
    def text_signals(self, X: pd.DataFrame) -> TextSignals:
        """Raw BM25 and dense scores for the firms in ``X`` (rows in input order)."""
        check_is_fitted(self)
        X = self._check_frame(X)
        return self.relevance_.signals(firm_texts(X, self.industry_names))

    def _relevance(self, signals: TextSignals, preference_fit: np.ndarray) -> np.ndarray:
        text = relevance_scores(
            signals, self.lexical_weight, self.dense_weight, self.fusion, self.rrf_k,
            self.score_spans_,
        )
        w = self.preference_weight
        return (1 - w) * text + w * preference_fit

    def _evaluate(self, X: pd.DataFrame) -> tuple[Any, np.ndarray, np.ndarray]:
        """(evaluation, preference fit in input order (n_firms, n_policies), raw prefs)."""
        assert self.size_standard is not None
        ev, prefs = self.catalogue_.evaluate(X.reset_index(drop=True), self.size_standard)
        fit = self.catalogue_.preference_fit(prefs)  # (n_policies, n_firms), region order
        pos = np.empty(ev.firms.n, dtype=np.int64)
        pos[ev.firms.order] = np.arange(ev.firms.n)
        return ev, fit[:, pos].T, prefs

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Relevance of every policy to every firm, (n_firms, n_policies) in [0, 1].

        Columns follow ``policy_ids_``. Eligibility is not applied: an ineligible
        policy still has a relevance (see :meth:`eligibility` for that signal).
        """
        check_is_fitted(self)
        X = self._check_frame(X)
        _, pref_fit, _ = self._evaluate(X)
        return self._relevance(self.text_signals(X), pref_fit)

    def eligibility(self, X: pd.DataFrame, statuses: Sequence[str] | None = None) -> pd.DataFrame:
        """The DATA.md §5 table (sorted by uscc, policy_id) with relevance in ``score``."""
        check_is_fitted(self)
        X = self._check_frame(X)
        ev, pref_fit, _ = self._evaluate(X)
        table = eligibility_table(ev, statuses)
        if len(table):
            rel = self._relevance(self.text_signals(X), pref_fit)
            row = pd.Series(np.arange(len(X)), index=X["uscc"].astype(str).to_numpy())
            col = pd.Series(np.arange(len(self.policy_ids_)), index=self.policy_ids_)
            r = row.loc[table[Columns.USCC].astype(str)].to_numpy()
            c = col.loc[table[Columns.POLICY_ID]].to_numpy()
            table[Columns.SCORE] = [f"{v:.4f}" for v in rel[r, c]]
        return table

    # -- recommendations ----------------------------------------------------------------
    def _settings(self) -> RecommendSettings:
        return RecommendSettings(
            top_k=int(self.top_k),
            near_misses=int(self.near_misses), near_miss_gap=float(self.near_miss_gap),
            near_miss_pool=4 * int(self.near_misses), n_terms=int(self.n_terms),
        )

    def _recommend_one_batch(
        self, X: pd.DataFrame, settings: RecommendSettings | None = None
    ) -> pd.DataFrame:
        settings = settings or self._settings()
        ev, pref_fit, prefs = self._evaluate(X)
        signals = self.text_signals(X)
        score = self._relevance(signals, pref_fit)
        bm25, q, n_terms = self.relevance_.bm25, signals.queries, settings.n_terms

        def terms(i: int, policies: list[int]) -> list[list[str]]:
            return bm25.top_terms_many(q, i, policies, n_terms)

        return recommend_batch(
            ev, prefs, self.catalogue_.preference_owner, score, terms, settings,
            self.catalogue_.amounts(ev.firms), self.catalogue_.near_miss_candidates,
            self.catalogue_.reason_cache, self.catalogue_.preference_texts,
        )

    def iter_recommend(self, X: pd.DataFrame) -> Iterator[pd.DataFrame]:
        """:meth:`recommend` batch by batch (``batch_size`` firms), for streaming output."""
        check_is_fitted(self)
        X = self._check_frame(X).reset_index(drop=True)
        for start in range(0, len(X), int(self.batch_size)):
            yield self._recommend_one_batch(X.iloc[start : start + int(self.batch_size)])

    def recommend(self, X: pd.DataFrame) -> pd.DataFrame:
        """Ranked recommendations per firm (``RecommendColumns``), firms in input order.

        ``kind`` is ``match`` for eligible/undetermined policies (rank 1 = best) and
        ``near_miss`` for ineligible ones a small change would open; ``why`` holds
        ``met``, ``unmet``, ``unknown``, ``missing``, ``preferences``, ``terms`` and
        ``changes``.
        """
        frames = list(self.iter_recommend(X))
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RecommendColumns.ALL})
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def recommend_lines(self, X: pd.DataFrame) -> Iterator[dict[str, Any]]:
        """DATA.md §6 JSON lines, one per firm in input order (streamed per batch)."""
        check_is_fitted(self)
        X = self._check_frame(X).reset_index(drop=True)
        size = int(self.batch_size)
        for start in range(0, len(X), size):
            part = X.iloc[start : start + size]
            yield from firm_lines(self._recommend_one_batch(part), part["uscc"].tolist())

    def rankings(self, X: pd.DataFrame) -> dict[str, list[str]]:
        """Recommended policy ids per firm (uscc → ids, best first), matches only."""
        check_is_fitted(self)
        X = self._check_frame(X).reset_index(drop=True)
        quick = dataclasses.replace(self._settings(), near_misses=0, n_terms=0)
        size = int(self.batch_size)
        parts = [
            self._recommend_one_batch(X.iloc[s : s + size], quick)
            for s in range(0, len(X), size)
        ]
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in RecommendColumns.ALL})
        table = table[table[RecommendColumns.KIND] == MATCH]
        out: dict[str, list[str]] = {str(u): [] for u in X["uscc"]}
        for u, p in zip(table[RecommendColumns.USCC], table[RecommendColumns.POLICY_ID],
                        strict=True):
            out[str(u)].append(str(p))
        return out

    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """Mean nDCG@``score_k`` of the recommendations against labelled relevance.

        ``y`` has one entry per row of ``X``: a mapping ``policy_id → grade`` (0 = not
        relevant) or a collection of relevant policy ids (grade 1 each).
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by PolicyMatcher.score")
        X = self._check_frame(X)
        labels_list = list(y.tolist() if hasattr(y, "tolist") else y)
        if len(labels_list) != len(X):
            raise ValueError(f"y has {len(labels_list)} entries for {len(X)} firms")
        usccs = [str(u) for u in X["uscc"]]
        labels = {u: _as_grades(lab) for u, lab in zip(usccs, labels_list, strict=True)}
        return mean_ndcg(self.rankings(X), labels, int(self.score_k))


def _as_grades(labels: Any) -> dict[str, float]:
    if isinstance(labels, Mapping):
        return {str(k): float(v) for k, v in labels.items()}
    if isinstance(labels, str):
        return {labels: 1.0}
    return {str(p): 1.0 for p in labels}
