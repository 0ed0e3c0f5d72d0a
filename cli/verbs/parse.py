"""``policy-match parse FILE...``: policy documents → contract Policy JSONL on stdout.

One line per readable file (``id`` = file name without extension, Chinese unescaped).
A file that cannot be read (missing, empty, binary, a PDF without a text layer) gets one
error line on stderr naming it; the other files are still parsed and the exit status is
2 at the end, so a batch script notices without losing the good output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.progress import progress
from matcher.errors import PolicyMatchError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "parse", help="policy documents (.txt/.html/.docx/.pdf) → Policy JSONL (DATA.md §2)"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="policy documents")
    p.add_argument("--out", help="write the JSONL here (atomically) instead of stdout")
    p.add_argument("--no-text", action="store_true",
                   help="leave the full text out of the output (smaller lines)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.output import write_jsonl
    from policies.parse.parser import PolicyParser

    parser = PolicyParser()
    rows: list[dict[str, Any]] = []
    failed = 0
    show = not args.no_progress and len(args.files) >= 50 and sys.stderr.isatty()
    with progress(len(args.files), "parsing", enabled=show, unit="file") as bar:
        for name in args.files:
            try:
                policy = parser.parse_file(Path(name))
            except PolicyMatchError as e:
                failed += 1
                print(f"policy-match: error: {e}", file=sys.stderr)
                bar.update()
                continue
            if args.no_text:
                policy.pop("text", None)
            if args.out:
                rows.append(policy)
            else:
                sys.stdout.write(json.dumps(policy, ensure_ascii=False) + "\n")
                sys.stdout.flush()
            bar.update()
    if args.out:
        write_jsonl(rows, args.out)
    if failed:
        print(f"policy-match: {failed} of {len(args.files)} file(s) could not be parsed",
              file=sys.stderr)
        return 2
    return 0
