"""``policy-match run``: the 免申即享 batch run over every firm, chunked, resumable, on Dask.

Writes ``OUT/eligible.csv`` (DATA.md §5, eligible and undetermined rows, sorted by
policy_id then uscc), ``OUT/eligible.xlsx`` (one sheet per policy, Chinese headers),
``OUT/eligible.parquet``, ``OUT/adjustments.csv`` (benefits dropped or reduced by stacking
rules, with the reason), ``OUT/skipped.csv`` (bad records) and ``OUT/manifest.json``.
The run id is printed on stdout; ``--resume ID`` finishes an interrupted run.
"""

from __future__ import annotations

import argparse
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cli.args import iso_date
from matcher.errors import PolicyMatchError
from matcher.policy import MODES
from runs.runner import DEFAULT_CHUNK_SIZE, FORMATS, RunOptions, resume_run, start_run


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="免申即享 batch run: every firm × selected policies → lists")
    p.add_argument("--profiles", help="firm profiles: Parquet, JSONL, CSV or .xlsx")
    p.add_argument("--policies", help="policies: JSONL")
    p.add_argument("--as-of", type=iso_date, help="evaluation date YYYY-MM-DD")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--mode", choices=[*MODES, "all"], default="all",
                   help="evaluate only policies of this mode (default: all)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help=f"firms per chunk (default {DEFAULT_CHUNK_SIZE}); bounds memory")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, help="evaluate on a local Dask cluster of N workers")
    group.add_argument("--scheduler", help="evaluate on a Dask cluster: tcp://HOST:PORT")
    p.add_argument("--resume", metavar="ID", help="finish the interrupted run ID in --out")
    p.add_argument("--formats", default=",".join(FORMATS),
                   help="output files to write (default csv,xlsx,parquet)")
    p.add_argument("--store", nargs="?", const="", metavar="URL",
                   help="read firms from the store (without --profiles) and record the run "
                        "and its list there; URL defaults to POLICY_MATCH_DATABASE_URL")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _terminated(signum: int, frame: object) -> None:
    # A polite kill (SIGTERM) unwinds like Ctrl-C, so the run is marked failed on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    out = Path(args.out)
    execution: dict[str, Any] = {}
    if args.workers is not None:
        execution = {"executor": "dask-local", "workers": args.workers}
    elif args.scheduler:
        execution = {"executor": "dask", "scheduler": args.scheduler}
    with ExitStack() as stack:
        store = None
        if args.store is not None:
            from store.store import Store

            store = stack.enter_context(Store(args.store or None))
        executor = None
        if execution:
            from runs.distributed import dask_executor

            executor = stack.enter_context(dask_executor(args.scheduler, args.workers))
        bar = stack.enter_context(tqdm(total=None, desc="run", unit="firm", mininterval=0.5,
                                       disable=args.no_progress, file=sys.stderr))

        def total(n: int | None) -> None:
            bar.reset(total=n)

        if args.resume:
            outcome = resume_run(out, args.resume, executor, bar.update, total, store)
        else:
            needed = ("policies", "as_of") if store is not None else ("profiles", "policies",
                                                                         "as_of")
            missing = [f"--{n.replace('_', '-')}" for n in needed if getattr(args, n) is None]
            if missing:
                raise PolicyMatchError(f"run needs {', '.join(missing)} (or --resume ID)")
            formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
            outcome = start_run(
                RunOptions(
                    profiles=Path(args.profiles) if args.profiles else None,
                    policies=Path(args.policies),
                    as_of=args.as_of, out=out,
                    mode=None if args.mode == "all" else args.mode,
                    chunk_size=args.chunk_size, formats=formats, execution=execution,
                    store=store,
                ),
                executor, bar.update, total,
            )
    m = outcome.manifest
    c = m["counts"]
    resumed = f", {outcome.resumed_chunks} chunk(s) resumed" if outcome.resumed_chunks else ""
    print(
        f"policy-match: run {outcome.run_id}: {m['firms']['evaluated']} firms × "
        f"{len(m['policies'])} policies → {c['eligible']} eligible, {c['undetermined']} "
        f"undetermined, total {m['total_amount']:.2f} yuan; {m['firms']['skipped']} record(s) "
        f"skipped{resumed}; files in {out}",
        file=sys.stderr,
    )
    print(outcome.run_id)
    return 0
