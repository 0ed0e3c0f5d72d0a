"""``policy-match runs …``: look at runs, compare two, and take a list through confirmation.

A run is named by its directory (``OUT/.runs/ID``), by its output directory (``OUT``,
the latest run published there), or by ``ID`` with ``--out OUT``.

    policy-match runs status RUN
    policy-match runs diff A B [--out-csv FILE]
    policy-match runs confirm RUN --by NAME [--note TEXT]
    policy-match runs publish RUN --by NAME --start D --end D
    policy-match runs object RUN --by NAME --uscc X --policy P --text TEXT [--on D]
    policy-match runs resolve RUN --by NAME --objection OBJ-0001 --resolution upheld|rejected
                              [--effect remove|amend|add] [--amount Y] --note TEXT
    policy-match runs finalize RUN --by NAME [--on D]
    policy-match runs audit RUN
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from cli.args import iso_date
from cli.output import write_csv
from matcher.errors import PolicyMatchError
from runs.checkpoint import RUNS_DIRNAME, RunDir, read_json
from runs.diff import diff_runs, summarize
from runs.workflow import Workflow


def _run_path(ref: str, out: str | None) -> Path:
    if out:
        return Path(out) / RUNS_DIRNAME / ref
    p = Path(ref)
    if (p / "spec.json").is_file():
        return p
    latest = p / RUNS_DIRNAME / "latest.json"
    if latest.is_file():
        return p / RUNS_DIRNAME / read_json(latest)["run_id"]
    raise PolicyMatchError(f"{ref}: not a run directory or an output directory with a run")


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="inspect, compare and confirm batch runs")
    verbs = p.add_subparsers(dest="runs_verb", required=True)

    def add(name: str, help_: str, **needs: bool) -> argparse.ArgumentParser:
        q = verbs.add_parser(name, help=help_)
        q.add_argument("run", help="run directory, output directory, or run id with --out")
        q.add_argument("--out", help="output directory holding the run (with a run id)")
        if needs.get("by"):
            q.add_argument("--by", required=True, help="who takes this step (officer name)")
        if needs.get("by") or needs.get("store"):
            q.add_argument("--store", nargs="?", const="", metavar="URL",
                           help="the store the run is recorded in: each step also goes to its "
                                "audit log (needed for runs made with --store)")
        q.set_defaults(func=run)
        return q

    add("status", "state and progress of a run")
    d = verbs.add_parser("diff", help="firms that entered or left each policy's list, and why")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--out-csv", help="write every change to this CSV (UTF-8 with BOM)")
    d.add_argument("--limit", type=int, default=20, help="changes to print (default 20)")
    d.set_defaults(func=run)
    q = add("confirm", "an officer confirms the generated list", by=True)
    q.add_argument("--note", default="")
    q = add("publish", "publish the list for objections (公示)", by=True)
    q.add_argument("--start", required=True, type=iso_date)
    q.add_argument("--end", required=True, type=iso_date)
    q = add("object", "record an objection about one firm on one policy", by=True)
    q.add_argument("--uscc", required=True)
    q.add_argument("--policy", required=True)
    q.add_argument("--text", required=True)
    q.add_argument("--on", type=iso_date, help="date received (default: today)")
    q = add("resolve", "resolve an objection", by=True)
    q.add_argument("--objection", required=True)
    q.add_argument("--resolution", required=True, choices=["upheld", "rejected"])
    q.add_argument("--effect", default="none", choices=["none", "remove", "amend", "add"])
    q.add_argument("--amount", type=float)
    q.add_argument("--note", required=True)
    q = add("finalize", "close 公示 and write the final list", by=True)
    q.add_argument("--on", type=iso_date, help="date of the decision (default: today)")
    add("audit", "print the run's audit log (with --store: copy missing steps there)",
        store=True)


def _today(value: dt.date | None) -> dt.date:
    # The CLI edge is where "today" may come from; the workflow itself takes dates in.
    return value or dt.date.today()


def run(args: argparse.Namespace) -> int:
    verb = args.runs_verb
    if verb == "diff":
        table = diff_runs(args.a, args.b)
        if args.out_csv:
            write_csv(table, args.out_csv)
        print(json.dumps(summarize(table), ensure_ascii=False, sort_keys=True, indent=2))
        for row in table.head(args.limit).itertuples():
            print(f"{row.policy_id}\t{row.uscc}\t{row.change}\t{row.amount_a or '-'} → "
                  f"{row.amount_b or '-'}\t{row.reason}")
        if len(table) > args.limit:
            print(f"… {len(table) - args.limit} more", file=sys.stderr)
        return 0
    path = _run_path(args.run, args.out)
    if verb == "status":
        print(json.dumps(RunDir(path).status(), ensure_ascii=False, sort_keys=True, indent=2))
        return 0
    with contextlib.ExitStack() as stack:
        store = None
        if args.store is not None:
            from store.store import Store

            store = stack.enter_context(Store(args.store or None))
        elif verb != "audit" and RunDir(path).spec().get("recorded_in_store"):
            raise PolicyMatchError(
                f"run {path.name} is recorded in a store: give --store URL so that this step "
                "is in the store's audit log too")
        return _workflow_step(verb, args, Workflow(path, store))


def _workflow_step(verb: str, args: argparse.Namespace, wf: Workflow) -> int:
    if verb == "confirm":
        entry = wf.confirm(args.by, args.note)
    elif verb == "publish":
        entry = wf.publish(args.by, args.start, args.end)
    elif verb == "object":
        entry = wf.object(args.by, args.uscc, args.policy, args.text, _today(args.on))
    elif verb == "resolve":
        entry = wf.resolve(args.by, args.objection, args.resolution, args.effect, args.amount,
                           args.note)
    elif verb == "finalize":
        entry = wf.finalize(args.by, _today(args.on))
    else:  # audit
        wf.sync_store()
        for e in wf.entries():
            print(json.dumps(e, ensure_ascii=False, sort_keys=True))
        return 0
    print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    return 0
