"""Parser speed: 1,000 policy texts of ~3,000 characters, against jieba's own segmentation.

The texts are built from the real corpus (``../shared/corpus/policies`` and the extra
golden texts): each is a different rotation and mix of real paragraphs, cut at about
3,000 characters, so every rule of the parser runs on realistic prose. The reference is
jieba segmenting the same texts with the same private tokenizer and dictionary, measured
in the same run: the printed ratio says how much the parser adds to segmentation alone.

Run: ``.venv/bin/python bench/bench_parse.py [--n 1000] [--chars 3000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policies.parse.parser import PolicyParser, default_tokenizer  # noqa: E402


def corpus_texts() -> list[str]:
    dirs = [ROOT.parent / "shared" / "corpus" / "policies", ROOT / "tests" / "golden" / "extra"]
    texts = [p.read_text(encoding="utf-8")
             for d in dirs if d.is_dir() for p in sorted(d.glob("*.txt"))]
    if not texts:
        raise SystemExit("no corpus texts found (expected ../shared/corpus/policies)")
    return texts


def make_texts(n: int, chars: int, seed: int = 7) -> list[str]:
    """``n`` texts of about ``chars`` characters: a real header, then real paragraphs."""
    rng = random.Random(seed)
    sources = corpus_texts()
    paragraphs = [p for t in sources for p in t.split("\n") if len(p.strip()) > 10]
    out: list[str] = []
    for i in range(n):
        base = sources[i % len(sources)]
        parts = [base]
        size = len(base)
        while size < chars:
            p = rng.choice(paragraphs)
            parts.append(p)
            size += len(p) + 1
        out.append("\n".join(parts)[:chars])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=3000)
    args = ap.parse_args()
    texts = make_texts(args.n, args.chars)
    total_chars = sum(len(t) for t in texts)

    tok = default_tokenizer()
    tok.tokenize("预热")  # build jieba's prefix dictionary outside the timings
    parser = PolicyParser(tok)
    parser.parse(texts[0], "warmup")

    t0, c0 = time.perf_counter(), time.process_time()
    n_tokens = sum(len(tok.tokenize(t)) for t in texts)
    t_jieba, c_jieba = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    n_leaves = 0
    for i, t in enumerate(texts):
        policy = parser.parse(t, f"bench{i:04d}")
        n_leaves += str(policy["conditions"]).count("'field'")
    t_parse, c_parse = time.perf_counter() - t0, time.process_time() - c0

    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}")
    print(f"texts: {len(texts)} × ~{args.chars} chars = {total_chars:,} chars")
    print(f"jieba segmentation (reference): {t_jieba:7.2f} s wall, {c_jieba:7.2f} s cpu  "
          f"({n_tokens:,} tokens, {total_chars / c_jieba / 1e3:,.0f} k chars per cpu-second)")
    print(f"full parse (incl. segmentation): {t_parse:7.2f} s wall, {c_parse:7.2f} s cpu  "
          f"({len(texts) / t_parse:,.1f} texts/s wall, {n_leaves:,} leaves)")
    print(f"ratio parse / jieba: {t_parse / t_jieba:.2f}× wall, {c_parse / c_jieba:.2f}× cpu")
    print(f"target: {args.n} texts in < 30 s → {'met' if t_parse < 30 else 'NOT met'} "
          f"(wall; other work on the machine inflates wall time, cpu time does not)")


if __name__ == "__main__":
    main()
