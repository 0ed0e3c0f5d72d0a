"""The relevance report: BM25 alone, e5 alone, static alone and the hybrids, in one run.

Also e5 with int8 firm (query) vectors (``TextEmbedder(query_precision="int8")``, the
one-firm latency path) alone and in the hybrid, to show what the quantisation costs.

    .venv/bin/python bench/relevance_report.py

On the labelled set in ``tests/data/relevance/`` (204 firms, 65 policies, graded labels):
each configuration's parameters are chosen on the ``tune`` firms
(``matcher.tuning.signal_configs``) and every figure is measured on the held-out
``test`` firms. ``ndcg@10`` ranks what a firm is shown (eligible and undetermined
policies only); "relevance only" ranks every policy by the text signal alone.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embeddings.encoder import TextEmbedder  # noqa: E402
from matcher.dense import MemoizedEncoder  # noqa: E402
from matcher.tuning import signal_configs, tune_and_report  # noqa: E402
from tests._relevance_support import load_relevance_set, matcher_for  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    t = time.perf_counter()
    data = load_relevance_set()
    encoders = {name: MemoizedEncoder(TextEmbedder(model=name).fit()) for name in ("e5", "static")}
    # The one-firm fast path: firm texts through the int8 copy of e5, policies in float32.
    encoders["e5 int8 queries"] = MemoizedEncoder(
        TextEmbedder(model="e5", query_precision="int8").fit()
    )
    tune_X, _ = data.part("tune")
    test_X, _ = data.part("test")
    report = tune_and_report(
        matcher_for(data, near_misses=0), signal_configs(encoders),
        (tune_X, data.labels), (test_X, data.labels),
    )
    pd.set_option("display.width", 250)
    cols = ["test ndcg@10", "test recall@10", "test mrr", "test ndcg@10 (relevance only)",
            "test recall@10 (relevance only)", "test mrr (relevance only)", "tune ndcg@10"]
    print(report[cols].round(3).to_string())
    print()
    for name, row in report.iterrows():
        print(f"{name}: {row['chosen']}")
    for column in ("test ndcg@10", "test ndcg@10 (relevance only)"):
        best = report.loc[["bm25", "e5", "static"], column].max()
        print(f"\n{column}: hybrid (bm25 + e5) {report.loc['hybrid (bm25 + e5)', column]:.3f}, "
              f"hybrid (bm25 + e5 int8 queries) "
              f"{report.loc['hybrid (bm25 + e5 int8 queries)', column]:.3f} vs best single "
              f"signal {best:.3f}")
    print(f"{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
