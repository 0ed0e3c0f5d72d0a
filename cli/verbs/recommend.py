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

``--store`` (instead of ``--profiles/--policies/--out``) reads the stored firms and the
published policies of the store (``POLICY_MATCH_DATABASE_URL``) and stores a run of kind
``recommend``: one ``match_results`` row (DATA.md §5, with ``score``) per eligible or
undetermined pair. Why stored: relevance costs milliseconds per firm (tokenising, BM25,
the encoder), too slow per API request; the API serves the latest done run's scores.
Rows are written per batch of firms, each chunk in one transaction, and the run is
marked ``done`` only after the last one — a failed run stays ``failed`` and is never used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
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
    p.add_argument("--profiles", help="profiles: JSONL, CSV or .xlsx (file mode)")
    p.add_argument("--policies", help="policies: JSONL (file mode)")
    p.add_argument("--as-of", type=iso_date,
                   help="evaluation date YYYY-MM-DD (file mode: required; "
                   "--store: default today, Asia/Shanghai)")
    p.add_argument("--top", type=int, default=10, help="recommendations per firm (default 10)")
    p.add_argument("--out", help="result JSONL (UTF-8, one line per firm; file mode)")
    p.add_argument("--store", action="store_true",
                   help="read the store's firms and published policies and store a "
                   "'recommend' run with every eligible/undetermined pair's score "
                   "(store from $POLICY_MATCH_DATABASE_URL), instead of the file mode")
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
    p.set_defaults(func=run, parser=p)


def _encoder(name: str | None, vector_cache: str | None,
             query_precision: Literal["float32", "int8"] = "float32") -> Any:
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
    parser: argparse.ArgumentParser | None = getattr(args, "parser", None)
    if args.store:
        given = [f for f, v in (("--profiles", args.profiles), ("--policies", args.policies),
                                ("--out", args.out)) if v is not None]
        if given:
            _usage_error(parser, f"--store reads the store: {', '.join(given)} not allowed")
        return run_store(args)
    missing = [f for f, v in (("--profiles", args.profiles), ("--policies", args.policies),
                              ("--as-of", args.as_of), ("--out", args.out)) if v is None]
    if missing:
        _usage_error(parser, f"the following arguments are required: {', '.join(missing)}")
    return run_files(args)


def _usage_error(parser: argparse.ArgumentParser | None, message: str) -> None:
    """Exit 2 with usage, as argparse does for a missing required argument."""
    if parser is not None:
        parser.error(message)
    raise PolicyMatchError(message)


def _check_counts(args: argparse.Namespace) -> None:
    for flag, value, least in (("--top", args.top, 1), ("--near-misses", args.near_misses, 0),
                               ("--batch-size", args.batch_size, 1)):
        if value < least:
            raise PolicyMatchError(f"{flag} must be at least {least}, got {value}")


def _fitted(args: argparse.Namespace, frame: pd.DataFrame, policies: list[Any],
            as_of: dt.date) -> PolicyMatcher:
    """The matcher both modes use, with the same parameters (so the same scores)."""
    matcher = PolicyMatcher(
        policies=policies, as_of=as_of, size_standard=size_standard(),
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
    return matcher


def run_files(args: argparse.Namespace) -> int:
    _check_counts(args)
    frame, policies, n_skipped = load_inputs(args.profiles, args.policies)
    matcher = _fitted(args, frame, policies, args.as_of)
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


RUN_KIND = "recommend"
ACTOR = "cli:recommend"
OPEN_STATUSES = ("eligible", "undetermined")


def run_store(args: argparse.Namespace) -> int:
    # Imported on use: the file mode must not open a database.
    from store.store import open_store

    _check_counts(args)
    as_of = args.as_of or dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    with open_store() as store:
        # Read before the data: anything written after this is "newer than the run", and
        # the API shows no score for it (it compares these revisions).
        policies_revision = store.revision("policies_revision")
        policies, _ = store.published_policies()
        frame, firms_revision = store.firms_frame()
        matcher = _fitted(args, frame, policies, as_of)
        params = {
            "encoder": args.encoder, "lexical_weight": args.lexical_weight,
            "dense_weight": args.dense_weight, "fusion": args.fusion,
            "firms_revision": firms_revision, "policies_revision": policies_revision,
            "firms": len(frame), "policies": len(policies),
        }
        run_row = store.create_run(kind=RUN_KIND, as_of=as_of, params=params, actor=ACTOR)
        counts = {"firms": 0, "rows": 0, "eligible": 0, "undetermined": 0}
        size = int(args.batch_size)
        try:
            with tqdm(total=len(frame), desc="recommend → store", unit="firm",
                      disable=args.no_progress, mininterval=0.5, file=sys.stderr) as bar:
                for start in range(0, len(frame), size):
                    part = frame.iloc[start:start + size]
                    table = matcher.eligibility(part, statuses=OPEN_STATUSES)
                    table["score"] = pd.to_numeric(table["score"])
                    store.write_results(run_row.id, table)
                    for name, n in table["status"].value_counts().items():
                        counts[str(name)] += int(n)
                    counts["rows"] += len(table)
                    counts["firms"] += len(part)
                    bar.update(len(part))
        except BaseException as e:  # noqa: BLE001 - recorded, then re-raised
            store.finish_run(run_row.id, state="failed", error=f"{type(e).__name__}: {e}",
                             actor=ACTOR)
            raise
        store.finish_run(run_row.id, state="done", counts=counts, actor=ACTOR)
    print(
        f"policy-match: run {run_row.id}: {counts['firms']} firms × {len(policies)} policies "
        f"→ {counts['rows']} scored eligible/undetermined pairs stored",
        file=sys.stderr,
    )
    print(run_row.id)
    return 0
