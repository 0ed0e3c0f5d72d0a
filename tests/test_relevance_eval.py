"""The relevance report on the labelled set: hybrid beats every single signal, held out.

Each configuration is tuned on the ``tune`` firms only (``matcher.tuning.signal_configs``)
and measured on the ``test`` firms it never saw. Uses the project's real encoders
(multilingual-e5-small rebuilt offline, and the static model distilled from it), built
into the model cache on first use; one torch thread.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
import torch

from embeddings.encoder import TextEmbedder
from matcher.dense import MemoizedEncoder
from matcher.tuning import signal_configs, tune_and_report
from tests._relevance_support import RelevanceSet, load_relevance_set, matcher_for

torch.set_num_threads(1)
K = 10


@cache
def data() -> RelevanceSet:
    return load_relevance_set()


@cache
def report() -> pd.DataFrame:
    d = data()
    encoders = {
        "e5": MemoizedEncoder(TextEmbedder(model="e5").fit()),
        "static": MemoizedEncoder(TextEmbedder(model="static").fit()),
    }
    tune_X, _ = d.part("tune")
    test_X, _ = d.part("test")
    return tune_and_report(
        matcher_for(d, near_misses=0), signal_configs(encoders),
        (tune_X, d.labels), (test_X, d.labels), K,
    )


SINGLE = ["bm25", "e5", "static"]


@pytest.mark.parametrize("column", [f"test ndcg@{K}", f"test ndcg@{K} (relevance only)"])
def test_hybrid_beats_the_best_single_signal_on_held_out_firms(column: str) -> None:
    r = report()
    best_single = r.loc[SINGLE, column].max()
    assert r.loc["hybrid (bm25 + e5)", column] > best_single, r[[column]].to_string()


def test_every_signal_finds_relevant_policies() -> None:
    r = report()
    # Far above chance: a random order of the 65 policies scores nDCG@10 ≈ 0.15 here.
    assert (r[f"test ndcg@{K} (relevance only)"] > 0.6).all(), r.to_string()
    assert (r["test mrr"] > 0.8).all(), r.to_string()


def test_tuning_used_only_the_tune_split() -> None:
    d = data()
    tune = {u for u, s in d.split.items() if s == "tune"}
    test = {u for u, s in d.split.items() if s == "test"}
    assert tune and test and not tune & test
    sectors_tune = {d.sector[u] for u in tune}
    assert sectors_tune == {d.sector[u] for u in test}  # every sector on both sides
    assert set(report().index) == {"bm25", "e5", "static", "hybrid (bm25 + e5)",
                                   "hybrid (bm25 + static)"}
