"""Benchmark recommendations: one firm's top-10 on request, and a full batch run.

    .venv/bin/python bench/bench_recommend.py                 # both parts, 100,000 firms
    .venv/bin/python bench/bench_recommend.py --firms 5000    # a quick full run
    .venv/bin/python bench/bench_recommend.py --skip-full     # latency only

1. **Latency, in-process**: ``PolicyMatcher.recommend`` for one firm at a time (eligibility
   + relevance + why, top 10 and up to 3 near misses) over 2,000 policies, for
   ``--latency-firms`` different firms, one torch thread. Encoders (``--encoders``):
   ``static``; ``e5`` cold (the firm's text encoded on the spot, float32); ``e5-int8``
   cold (firm text through the int8 copy of e5, ``query_precision="int8"``);
   ``e5-cached`` (the firm is already stored: its text vector is in the vector cache,
   written before the timing, as a batch run or an earlier request leaves it). p50, p99
   and CPU time per request (all threads of the process, so it includes numba workers
   of the interleaved baseline still spinning; the request itself runs on one thread).
   Baseline in the same run: the core eligibility verdicts alone for the same firm
   (``matcher.eligibility.evaluate``: derive, encode, compile 2,000 trees, evaluate),
   with no relevance and no explanation.
2. **Full run**: ``policy-match recommend`` as a subprocess on N firms × 2,000 policies
   with the static encoder, wall time and peak RSS (of the child). Baseline in the same
   run: ``evaluate`` (verdicts only, no relevance, no explanations) in-process.

Firms come from ``bench/synthetic.py`` with business scopes and products written for 17
sectors (``tests/data/relevance/sectors.py``), every firm's text different, so that
tokenisation and encoding are measured on distinct texts; policies are synthetic
condition trees with 支持对象/支持方向 texts from the same sectors.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies  # noqa: E402
from matcher.eligibility import evaluate  # noqa: E402
from matcher.estimator import PolicyMatcher  # noqa: E402
from matcher.policy import Policy  # noqa: E402
from profiles.reference import industry_names, size_standard  # noqa: E402


def _sectors() -> Any:
    path = ROOT / "tests" / "data" / "relevance" / "sectors.py"
    spec = importlib.util.spec_from_file_location("relevance_sectors", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.SECTORS


GENERIC = ("技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广", "货物进出口", "软件开发",
           "信息咨询服务（不含许可类信息咨询服务）", "机械设备销售", "企业管理咨询")


def _pick(rng: np.random.Generator, items: tuple[str, ...], k: int) -> list[str]:
    return [items[i] for i in sorted(rng.choice(len(items), size=min(k, len(items)),
                                                replace=False))]


def firms_with_text(n: int, seed: int = 7) -> pd.DataFrame:
    """Synthetic firms whose 经营范围 and 主营产品 are distinct, sector-written texts."""
    frame = synthetic_firms(n, seed)
    sectors = _sectors()
    rng = np.random.default_rng(seed)
    scopes, products = [], []
    for i in range(n):
        s = sectors[int(rng.integers(len(sectors)))]
        items = _pick(rng, s.scope, int(rng.integers(2, 5))) + _pick(rng, GENERIC, 2)
        rng.shuffle(items)
        # A firm number makes every text distinct, as real licences are.
        scopes.append("一般项目：" + "；".join(items) + f"。（登记序号{i}）")
        products.append("、".join(_pick(rng, s.products, int(rng.integers(1, 4)))))
    frame["business_scope"] = pd.array(scopes, dtype="string")
    frame["products"] = pd.array(products, dtype="string")
    return frame


def policies_with_text(m: int, seed: int = 11) -> list[Policy]:
    sectors = _sectors()
    rng = np.random.default_rng(seed)
    out = []
    for i, p in enumerate(synthetic_policies(m, seed)):
        s = sectors[int(rng.integers(len(sectors)))]
        dirs = _pick(rng, s.directions, 3)
        text = "\n".join(["一、支持对象", s.target + "。", "二、支持方向",
                          *[f"（{'一二三'[j]}）{d}。" for j, d in enumerate(dirs)],
                          "三、申报条件", "见附件。"])
        title = f"关于支持{s.theme}发展的若干措施（第{i}号）"
        out.append(dataclasses.replace(p, title=title, text=text))
    return out


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1e3, q))


ENCODERS: dict[str, dict[str, Any]] = {  # name → TextEmbedder parameters (None: BM25 only)
    "static": {"model": "static"},
    "e5": {"model": "e5"},
    "e5-int8": {"model": "e5", "query_precision": "int8"},
    "e5-cached": {"model": "e5", "vector_cache": True},
}


def latency(policies: list[Policy], firms: pd.DataFrame, encoder_name: str | None,
            n: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    encoder = None
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as vectors:
        if encoder_name:
            from embeddings.encoder import TextEmbedder

            params = dict(ENCODERS[encoder_name])
            if params.pop("vector_cache", False):
                params["vector_cache"] = vectors
            encoder = TextEmbedder(**params).fit()
        std = size_standard()
        m = PolicyMatcher(policies=policies, as_of=AS_OF, size_standard=std,
                          industry_names=industry_names(), encoder=encoder, top_k=10,
                          near_misses=3).fit(firms.iloc[: min(len(firms), 2000)])
        sample = firms.iloc[len(firms) - n:].reset_index(drop=True)  # not the calibration rows
        if encoder is not None and encoder.vector_cache is not None:
            m.text_signals(sample)  # the firms are stored: their texts were encoded before
        return _time_requests(m, sample, policies, std, n)


def _time_requests(m: PolicyMatcher, sample: pd.DataFrame, policies: list[Policy],
                   std: pd.DataFrame, n: int) -> dict[str, float]:
    for i in range(5):  # warm-up: JIT, caches
        m.recommend(sample.iloc[[i]])
        evaluate(sample.iloc[[i]], policies, AS_OF, std)
    ours, base, cpu = [], [], []
    for i in range(n):
        one = sample.iloc[[i]]
        c = time.process_time()
        t = time.perf_counter()
        table = m.recommend(one)
        ours.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert (table["kind"] == "match").sum() <= 10
        t = time.perf_counter()
        evaluate(one, policies, AS_OF, std)
        base.append(time.perf_counter() - t)
    return {"p50": _pct(ours, 50), "p99": _pct(ours, 99), "max": _pct(ours, 100),
            "cpu_mean": float(np.mean(cpu) * 1e3),
            "base_p50": _pct(base, 50), "base_p99": _pct(base, 99)}


def full_run(policies: list[Policy], firms: pd.DataFrame, encoder: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-recommend-") as tmp:
        fp, pp, out = Path(tmp, "firms.jsonl"), Path(tmp, "policies.jsonl"), Path(tmp, "r.jsonl")
        with fp.open("w", encoding="utf-8") as fh:
            for rec in firm_records(firms):
                fh.write(json.dumps(rec, ensure_ascii=False, default=float) + "\n")
        with pp.open("w", encoding="utf-8") as fh:
            for p in policies:
                fh.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
        cmd = [sys.executable, "-m", "cli.main", "recommend", "--profiles", str(fp),
               "--policies", str(pp), "--as-of", AS_OF.isoformat(), "--top", "10",
               "--out", str(out), "--encoder", encoder, "--no-progress"]
        env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode:
            raise SystemExit(f"recommend failed ({done.returncode}): {done.stderr[-2000:]}")
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = out.read_text(encoding="utf-8").splitlines()
        n_matches = sum(len(json.loads(x)["matches"]) for x in lines)
        size_mb = out.stat().st_size / 2**20
    t = time.perf_counter()
    evaluate(firms, policies, AS_OF, size_standard())
    base = time.perf_counter() - t
    return {"wall_s": wall, "peak_rss_mb": rss_mb, "lines": len(lines), "matches": n_matches,
            "out_mb": size_mb, "base_s": base}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=100_000, help="firms in the full run")
    ap.add_argument("--policies", type=int, default=2000)
    ap.add_argument("--latency-firms", type=int, default=200)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--encoders", default="static,e5,e5-int8,e5-cached",
                    help=f"encoders for the latency part, of {', '.join(ENCODERS)}, none")
    args = ap.parse_args()

    policies = policies_with_text(args.policies)
    print(f"policies: {len(policies)}, leaves: "
          f"{sum(len(list(p.conditions.leaves())) for p in policies if p.conditions)}")
    if not args.skip_latency:
        firms = firms_with_text(2000 + args.latency_firms, seed=3)
        for name in [e for e in args.encoders.split(",") if e]:
            enc = None if name == "none" else name
            r = latency(policies, firms, enc, args.latency_firms)
            print(f"latency [{name}] one firm, top-10 of {len(policies)} policies: "
                  f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms, "
                  f"CPU {r['cpu_mean']:.1f} ms/request | load {os.getloadavg()[0]:.2f} | "
                  f"baseline core verdicts p50 {r['base_p50']:.1f} ms, "
                  f"p99 {r['base_p99']:.1f} ms | p50 ratio {r['p50'] / r['base_p50']:.2f}",
                  flush=True)
    if not args.skip_full:
        firms = firms_with_text(args.firms)
        r = full_run(policies, firms, "static")
        print(f"full run [static] {r['lines']:,} firms × {len(policies)} policies: "
              f"wall {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['matches']:,} matches, output {r['out_mb']:.0f} MB | baseline evaluate "
              f"(verdicts only) {r['base_s']:.1f} s | ratio {r['wall_s'] / r['base_s']:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
