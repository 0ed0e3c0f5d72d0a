"""Text relevance of every policy to every firm: BM25 and dense signals, fused.

The signals stay separate until :func:`relevance_scores` fuses them with the weights the
caller chose, so an analyst can look at each one alone (the relevance report compares
BM25 alone, dense alone, static alone and the hybrid on the same data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from matcher.dense import as_unit_rows, check_encoder, cosine_scores
from matcher.fusion import Fusion, fuse, typical_span
from matcher.lexical import BM25Scorer, Tokenize


@dataclass
class TextSignals:
    """Raw signals for a batch of firms (rows) against the catalogue (columns)."""

    lexical: np.ndarray  # BM25, float32 (n_firms, n_policies), ≥ 0
    dense: np.ndarray | None  # cosine, float32, or None without an encoder
    queries: sp.csr_matrix  # binary firm-term matrix, for explaining matched terms
    empty: np.ndarray  # bool (n_firms,): firms with no text at all


class RelevanceIndex:
    """The policy side of relevance, built once: a BM25 index and document vectors."""

    def __init__(
        self, policy_texts: Sequence[str], tokenizer: Tokenize | None, encoder: Any | None,
        k1: float, b: float,
    ) -> None:
        self.policy_texts = list(policy_texts)
        self.bm25 = BM25Scorer(tokenizer=tokenizer, k1=k1, b=b).fit(self.policy_texts)
        self.encoder = encoder
        self.doc_vectors: np.ndarray | None = None
        if encoder is not None:
            check_encoder(encoder)
            n = len(self.policy_texts)
            self.doc_vectors = (
                as_unit_rows(encoder.encode_documents(self.policy_texts), n, "policy texts")
                if n else np.zeros((0, 1), dtype=np.float32)
            )

    def signals(self, firm_texts: Sequence[str]) -> TextSignals:
        texts = list(firm_texts)
        empty = np.array([not t.strip() for t in texts], dtype=bool)
        q = self.bm25.query_matrix(texts)
        lexical = self.bm25.score_matrix(q)
        dense = None
        if self.encoder is not None and self.doc_vectors is not None:
            n_pol = len(self.policy_texts)
            dense = np.zeros((len(texts), n_pol), dtype=np.float32)
            keep = np.flatnonzero(~empty)
            if len(keep) and n_pol:
                vecs = as_unit_rows(
                    self.encoder.encode_queries([texts[i] for i in keep]), len(keep), "firm texts"
                )
                dense[keep] = cosine_scores(vecs, self.doc_vectors)
        return TextSignals(lexical=lexical, dense=dense, queries=q, empty=empty)


def signal_spans(signals: TextSignals) -> tuple[float, float]:
    """Typical per-firm spread of (lexical, dense) scores over firms that have text."""
    keep = ~signals.empty
    lexical = typical_span(signals.lexical[keep])
    dense = typical_span(signals.dense[keep]) if signals.dense is not None else 0.0
    return lexical, dense


def relevance_scores(
    signals: TextSignals, lexical_weight: float, dense_weight: float,
    fusion: Fusion = "weighted", rrf_k: float = 60.0,
    spans: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Fused text relevance in [0, 1], (n_firms, n_policies); 0 for firms without text.

    Without an encoder the dense weight is ignored (BM25 alone). ``spans`` are the
    minimum spans of the weighted fusion (see :func:`signal_spans`).
    """
    parts = [signals.lexical]
    weights = [lexical_weight]
    mins = [spans[0]]
    if signals.dense is not None:
        parts.append(signals.dense)
        weights.append(dense_weight)
        mins.append(spans[1])
    if sum(weights) == 0:
        return np.zeros(signals.lexical.shape, dtype=np.float64)
    out = fuse(parts, weights, fusion, rrf_k, mins)
    out[signals.empty] = 0.0
    return out
