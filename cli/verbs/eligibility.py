"""``policy-match eligibility``: the DATA.md §5 table for every firm × policy."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.args import iso_date
from cli.load import load_inputs
from cli.output import write_csv
from cli.progress import progress
from matcher.eligibility import eligibility_table, evaluate
from profiles.reference import size_standard


def register(sub: Any) -> None:
    p = sub.add_parser("eligibility", help="every firm × policy verdict as CSV (DATA.md §5)")
    p.add_argument("--profiles", required=True, help="profiles: JSONL, CSV or .xlsx")
    p.add_argument("--policies", required=True, help="policies: JSONL")
    p.add_argument("--as-of", required=True, type=iso_date, help="evaluation date YYYY-MM-DD")
    p.add_argument("--out", required=True, help="result CSV (UTF-8 with BOM)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    frame, policies, n_skipped = load_inputs(args.profiles, args.policies)
    ev = evaluate(frame, policies, args.as_of, size_standard())
    show = not args.no_progress and ev.firms.n * len(policies) >= 200_000
    with progress(len(policies), "explaining", enabled=show) as bar:
        table = eligibility_table(ev, on_policy=bar.update)
    write_csv(table, args.out)
    print(
        f"policy-match: {ev.firms.n} firms × {len(policies)} policies → {len(table)} rows "
        f"in {args.out}; {n_skipped} record(s) skipped",
        file=sys.stderr,
    )
    return 0
