"""``policy-match recommend``: ranked, explained policies per firm as JSONL (DATA.md §6).

One line per firm, in the order of the profile file (records that fail validation are
reported on stderr and skipped, as ``eligibility`` does):

    {"uscc": …, "matches": [{"policy_id", "status", "score", "amount", "why"}, …],
     "near_misses": [… the same, for ineligible policies a small change would open]}

``matches`` are eligible or undetermined policies only, best first; ``status`` (may the
firm get it) and ``score`` (relevance in [0, 1]) are separate fields, never blended.
The dense model is the fast static encoder unless ``--encoder`` (or the
``POLICY_MATCH_EMBEDDING_MODEL`` setting) says otherwise; ``--encoder none`` ranks by
BM25 alone and loads no model.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from cli.args import iso_date
from cli.load import load_inputs
from cli.output import write_jsonl
from matcher.errors import PolicyMatchError
from matcher.estimator import PolicyMatcher
from profiles.reference import industry_names, size_standard


def register(sub: Any) -> None:
    p = sub.add_parser(
        "recommend", help="ranked, explained policies per firm as JSONL (DATA.md §6)"
    )
    p.add_argument("--profiles", required=True, help="profiles: JSONL, CSV or .xlsx")
    p.add_argument("--policies", required=True, help="policies: JSONL")
    p.add_argument("--as-of", required=True, type=iso_date, help="evaluation date YYYY-MM-DD")
    p.add_argument("--top", type=int, default=10, help="recommendations per firm (default 10)")
    p.add_argument("--out", required=True, help="result JSONL (UTF-8, one line per firm)")
    p.add_argument(
        "--encoder", default=None,
        help="dense model: static, e5, a local sentence-transformers folder, or none "
        "(default: $POLICY_MATCH_EMBEDDING_MODEL, else static)",
    )
    p.add_argument(
        "--query-precision", choices=("float32", "int8"), default="float32",
        help="e5 only: encode firm texts with an int8 copy of the transformer "
        "(≈2.5× faster per firm, policies stay float32; default float32)",
    )
    p.add_argument("--vector-cache", default=None,
                   help="folder keeping computed vectors between runs (optional)")
    p.add_argument("--lexical-weight", type=float, default=1.0, help="BM25 weight (default 1)")
    p.add_argument("--dense-weight", type=float, default=1.0, help="dense weight (default 1)")
    p.add_argument("--fusion", choices=("weighted", "rrf"), default="weighted",
                   help="how the two signals are fused (default weighted)")
    p.add_argument("--near-misses", type=int, default=3,
                   help="ineligible-but-close policies listed per firm (default 3, 0 = none)")
    p.add_argument("--batch-size", type=int, default=5000, help="firms per batch (memory)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _encoder(name: str | None, vector_cache: str | None,
             query_precision: str = "float32") -> Any:
    """The dense encoder, loaded here at the edge (matcher/ never loads models)."""
    # Imported on use: listing the CLI's verbs must not load torch.
    from embeddings.settings import configured_model

    choice = name or configured_model("static")
    if choice.lower() == "none":
        return None
    from embeddings.encoder import TextEmbedder

    return TextEmbedder(model=choice, vector_cache=vector_cache,
                        query_precision=query_precision).fit()


def run(args: argparse.Namespace) -> int:
    for flag, value, least in (("--top", args.top, 1), ("--near-misses", args.near_misses, 0),
                               ("--batch-size", args.batch_size, 1)):
        if value < least:
            raise PolicyMatchError(f"{flag} must be at least {least}, got {value}")
    frame, policies, n_skipped = load_inputs(args.profiles, args.policies)
    matcher = PolicyMatcher(
        policies=policies, as_of=args.as_of, size_standard=size_standard(),
        industry_names=industry_names(),
        encoder=_encoder(args.encoder, args.vector_cache, args.query_precision),
        lexical_weight=args.lexical_weight, dense_weight=args.dense_weight,
        fusion=args.fusion, top_k=args.top, near_misses=args.near_misses,
        batch_size=args.batch_size,
    )
    try:
        matcher.fit(frame)
    except ValueError as e:  # a parameter out of range: the run is refused, not crashed
        raise PolicyMatchError(str(e)) from None
    counts = {"firms": 0, "matches": 0}
    show = not args.no_progress and len(frame) * max(len(policies), 1) >= 200_000

    def lines() -> Any:
        with tqdm(total=len(frame), desc="recommending", unit="firm", disable=not show,
                  mininterval=0.5) as bar:
            for line in matcher.recommend_lines(frame):
                counts["firms"] += 1
                counts["matches"] += len(line["matches"])
                bar.update(1)
                yield line

    write_jsonl(lines(), args.out)
    print(
        f"policy-match: {counts['firms']} firms × {len(policies)} policies → "
        f"{counts['matches']} recommendations in {args.out}; {n_skipped} record(s) skipped",
        file=sys.stderr,
    )
    return 0
