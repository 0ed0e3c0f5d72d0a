"""``policy-match import profiles FILE`` / ``policy-match import policies FILE [--publish]``.

Loads the store named by ``POLICY_MATCH_DATABASE_URL`` (default: ``policy_match.db`` here).
Profiles are written in chunks, one transaction each; bad records are reported one line
each on stderr and skipped. A policy file is all-or-nothing: one bad tree refuses it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from tqdm import tqdm

from cli.args import iso_date
from policies.read import read_policies
from store.events import load_listeners
from store.firm_source import iter_profile_records
from store.store import DEFAULT_CHUNK_SIZE, open_store

ACTOR = "cli"


def register(sub: Any) -> None:
    p = sub.add_parser("import", help="load profiles or policies into the store")
    what = p.add_subparsers(dest="what", required=True)
    prof = what.add_parser("profiles", help="firm profiles: JSONL, CSV or .xlsx")
    prof.add_argument("file")
    prof.add_argument("--as-of", type=iso_date, default=None,
                      help="date the data describes (default: now)")
    prof.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                      help=f"firms per transaction (default {DEFAULT_CHUNK_SIZE})")
    prof.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    prof.set_defaults(func=run_profiles)
    pol = what.add_parser("policies", help="contract policies (JSONL)")
    pol.add_argument("file")
    pol.add_argument("--publish", action="store_true",
                     help="publish them (they are matched against firms from now on)")
    pol.set_defaults(func=run_policies)


def run_profiles(args: argparse.Namespace) -> int:
    with open_store() as store:
        load_listeners(store)
        warnings: list[Any] = []
        records = iter_profile_records(args.file, warnings)
        as_of = (dt.datetime.combine(args.as_of, dt.time(), tzinfo=dt.UTC)
                 if args.as_of else None)
        with tqdm(desc="importing", unit="firm", disable=args.no_progress or None,
                  mininterval=0.5, file=sys.stderr) as bar:
            report = store.import_firms(records, source=str(args.file), actor=ACTOR,
                                        as_of=as_of, chunk_size=args.chunk_size,
                                        warnings=warnings, on_chunk=bar.update)
    for err in report.errors:
        print(f"policy-match: skipped {err}", file=sys.stderr)
    for warn in report.warnings:
        print(f"policy-match: warning {warn}", file=sys.stderr)
    print(f"policy-match: import {report.import_id}: {report.written} firms stored, "
          f"{len(report.errors)} record(s) skipped", file=sys.stderr)
    return 0


def run_policies(args: argparse.Namespace) -> int:
    items = read_policies(args.file)
    with open_store() as store:
        load_listeners(store)
        counts = store.import_policies(items, actor=ACTOR, source=str(args.file),
                                       publish=args.publish)
    print(f"policy-match: {len(items)} policies: {counts['created']} created, "
          f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
          f"{counts['published']} published", file=sys.stderr)
    return 0
