"""Shared fixtures of the relevance tests: the labelled set and a small real encoder.

``LsaEncoder`` is a genuine dense encoder (character n-gram TF-IDF reduced by truncated
SVD, i.e. latent semantic analysis), fitted on the texts it is given. It is not e5: it is
here so that the estimator's API tests (clone, pickle, grid search) run in seconds; the
relevance report and the integration tests use the project's real encoders.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.estimator import PolicyMatcher
from matcher.policy import Policy
from matcher.tuning import labels_from_records
from policies.read import read_policies
from profiles.read import profiles_frame, read_profiles
from profiles.reference import industry_names, size_standard

RELEVANCE_DIR = Path(__file__).resolve().parent / "data" / "relevance"
AS_OF = dt.date(2026, 6, 30)


@dataclass
class RelevanceSet:
    firms: pd.DataFrame
    policies: list[Policy]
    labels: dict[str, dict[str, float]]
    sector: dict[str, str]
    split: dict[str, str]

    def part(self, name: str) -> tuple[pd.DataFrame, list[dict[str, float]]]:
        """Firms of one split and their labels, in row order (X, y for scikit-learn)."""
        mask = self.firms["uscc"].map(self.split).eq(name).to_numpy()
        X = self.firms[mask].reset_index(drop=True)
        return X, [self.labels[u] for u in X["uscc"]]


def load_relevance_set() -> RelevanceSet:
    report = read_profiles(RELEVANCE_DIR / "firms.jsonl")
    assert not report.errors, report.errors[:3]
    rows = [json.loads(line) for line in (RELEVANCE_DIR / "labels.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    return RelevanceSet(
        firms=profiles_frame(report.records),
        policies=read_policies(RELEVANCE_DIR / "policies.jsonl"),
        labels=labels_from_records(rows),
        sector={r["uscc"]: r["sector"] for r in rows},
        split={r["uscc"]: r["split"] for r in rows},
    )


class LsaEncoder:
    """Latent semantic analysis over character 1–3-grams: a small, deterministic encoder."""

    def __init__(self, corpus: Sequence[str], dim: int = 48) -> None:
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        tfidf = self.vectorizer.fit_transform(list(corpus))
        self.svd = TruncatedSVD(n_components=min(dim, tfidf.shape[1] - 1), random_state=0)
        self.svd.fit(tfidf)
        self.calls = 0

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        v = self.svd.transform(self.vectorizer.transform(list(texts))).astype(np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n > 0, n, 1.0)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def lsa_for(data: RelevanceSet) -> LsaEncoder:
    from matcher.texts import firm_texts, policy_texts

    names = industry_names()
    return LsaEncoder(firm_texts(data.firms, names) + policy_texts(data.policies, names))


def matcher_for(data: RelevanceSet, **params: Any) -> PolicyMatcher:
    """An unfitted matcher over the relevance catalogue with the reference tables."""
    return PolicyMatcher(
        policies=data.policies, as_of=AS_OF, size_standard=size_standard(),
        industry_names=industry_names(), **params,
    )
