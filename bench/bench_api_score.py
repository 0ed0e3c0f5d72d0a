"""Cost of the relevance ``score`` in ``MatchIndex.firm_json`` (the matches page), in-process.

Why in-process: the score is one lookup per request (a dict hit and a ``searchsorted``
over the firm's stored pairs); an HTTP run's noise on this shared machine is larger than
that. So this times ``firm_json`` for random stored firms with the scores of a stored
``recommend`` run loaded and without them, alternating rounds in the same process on the
same warm snapshot, and prints the ratio; plus the time and memory of loading the run.

The run's rows are the index's own eligible/undetermined pairs with random scores (what
``policy-match recommend --store`` writes has the same shape; its relevance computation is
not what is measured here).

    flock /tmp/bench.lock .venv/bin/python bench/bench_api_score.py   # 10k firms, 2,000 policies
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.match_index import SCORE_RUN_KIND, MatchIndex  # noqa: E402
from bench.bench_api import build_store  # noqa: E402
from bench.synthetic import AS_OF  # noqa: E402
from matcher.logic import FALSE, STATUS_NAMES  # noqa: E402
from profiles.reference import size_standard  # noqa: E402
from store.store import Store  # noqa: E402


def _time_pages(index: MatchIndex, usccs: list[str], as_of: object, limit: int) -> float:
    """Seconds per ``firm_json`` call over ``usccs``."""
    t = time.perf_counter()
    for u in usccs:
        index.firm_json(u, as_of, limit=limit)  # type: ignore[arg-type]
    return (time.perf_counter() - t) / len(usccs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=10_000)
    ap.add_argument("--policies", type=int, default=2_000)
    ap.add_argument("--requests", type=int, default=2_000, help="firms per round")
    ap.add_argument("--rounds", type=int, default=7, help="rounds per variant (alternating)")
    ap.add_argument("--limit", type=int, default=50, help="page size")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'score.db'}"
        usccs, setup = build_store(url, args.firms, args.policies, 10_000)
        store = Store(url)
        index = MatchIndex(store, size_standard(), check_interval=3600, background=False)
        t = time.perf_counter()
        index.prepare(AS_OF)
        snap = index.snapshot(AS_OF)
        snap.base.fill_patterns(snap.policies, AS_OF)  # as the server's background thread
        print(f"matcher build + explanation tables: {time.perf_counter() - t:.1f} s")
        verdicts = snap.base.verdicts
        assert verdicts is not None
        firm_i, pol_i = np.nonzero(verdicts != FALSE)
        rng = np.random.default_rng(3)
        table = pd.DataFrame({
            "uscc": snap.base.firms.uscc[firm_i].astype(str),
            "policy_id": np.array([p.id for p in snap.policies], dtype=object)[pol_i],
            "status": np.array([STATUS_NAMES[k] for k in range(3)], dtype=object)[
                verdicts[firm_i, pol_i]],
            "amount": None, "unmet": "", "unknown": "",
            "score": np.round(rng.random(len(firm_i)), 4),
        })
        run = store.create_run(kind=SCORE_RUN_KIND, as_of=AS_OF, actor="bench", params={
            "firms_revision": store.revision("firms_revision"),
            "policies_revision": store.revision("policies_revision")})
        t = time.perf_counter()
        store.write_results(run.id, table, chunk_size=50_000)
        store.finish_run(run.id, state="done", actor="bench")
        print(f"stored run: {len(table):,} scored pairs "
              f"({len(table) / args.firms:.0f} per firm) in {time.perf_counter() - t:.1f} s")
        index.touch()
        t = time.perf_counter()
        index.prepare(AS_OF)
        load_s = time.perf_counter() - t
        with_scores = index._snapshots[AS_OF]
        scores = with_scores.scores
        assert scores is not None and scores.run_id == run.id
        nbytes = scores.indptr.nbytes + scores.cols.nbytes + scores.values.nbytes
        print(f"score table loaded in {load_s:.1f} s: {nbytes / 2**20:.1f} MiB of arrays "
              f"+ a dict of {len(scores.rows):,} firms")
        without = dataclasses.replace(with_scores, scores=None)
        sample = [str(u) for u in rng.choice(np.array(usccs, dtype=object), args.requests)]
        body = index.firm_json(sample[0], AS_OF, limit=args.limit)
        assert body is not None and b'"score":null}' not in body.split(b'"status":"inel')[0]
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(args.rounds):
            for name, state in (("without", without), ("with", with_scores)):
                index._snapshots[AS_OF] = state
                timings[name].append(_time_pages(index, sample, AS_OF, args.limit))
        store.close()
    a = statistics.median(timings["without"])
    b = statistics.median(timings["with"])
    print(f"firm_json, limit={args.limit}, {args.requests} firms × {args.rounds} rounds "
          f"(median per request): without scores {a * 1e6:.1f} µs, with scores "
          f"{b * 1e6:.1f} µs, ratio {b / a:.3f} (+{(b - a) * 1e6:.1f} µs)")
    print(f"setup: {setup}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
