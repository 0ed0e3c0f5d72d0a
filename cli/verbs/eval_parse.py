"""``policy-match eval-parse --gold GOLD.jsonl TEXT_DIR``: parser accuracy on a gold corpus.

Every gold policy is parsed from ``TEXT_DIR/<id>.{txt,html,docx,pdf}`` and compared leaf
by leaf (same field, operator and value; lists as sets, numbers within 0.5 %). Prints
one line per policy and the totals: leaf precision, recall, F1 and mode accuracy (plus
benefit and date agreement). ``--json`` prints the report as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from matcher.errors import PolicyMatchError

_EXTS = (".txt", ".html", ".htm", ".docx", ".pdf")


def register(sub: Any) -> None:
    p = sub.add_parser("eval-parse", help="measure the policy parser against gold policies")
    p.add_argument("--gold", required=True, help="gold policies, JSONL (contract form)")
    p.add_argument("text_dir", metavar="TEXT_DIR", help="folder of the policy documents")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="list the false and missed leaves of each policy")
    p.set_defaults(func=run)


def _load_gold(path: str) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise PolicyMatchError(f"{path}: cannot read ({e.strerror or e})") from None
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise PolicyMatchError(f"{path}:{i}: broken JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise PolicyMatchError(f"{path}:{i}: a gold policy needs a string 'id'")
        out.append(obj)
    return out


def run(args: argparse.Namespace) -> int:
    from policies.parse.evaluate import evaluate
    from policies.parse.parser import PolicyParser

    gold = _load_gold(args.gold)
    folder = Path(args.text_dir)
    if not folder.is_dir():
        raise PolicyMatchError(f"{folder}: not a folder of policy texts")
    parser = PolicyParser()
    predicted: dict[str, dict[str, Any] | None] = {}
    for g in gold:
        pid = g["id"]
        candidates = (folder / f"{pid}{ext}" for ext in _EXTS)
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            print(f"policy-match: warning: no text for gold policy {pid!r} in {folder}",
                  file=sys.stderr)
            predicted[pid] = None
            continue
        try:
            predicted[pid] = parser.parse_file(path)
        except PolicyMatchError as e:
            print(f"policy-match: error: {e}", file=sys.stderr)
            predicted[pid] = None
    report = evaluate(predicted, gold)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
        return 0
    print(f"{'policy':<52} {'tp':>3} {'fp':>3} {'fn':>3} {'F1':>6}  mode")
    for p in report.policies:
        lc = p.leaves
        mode = "ok" if p.mode_ok else "WRONG"
        print(f"{p.id:<52} {lc.tp:>3} {lc.fp:>3} {lc.fn:>3} {lc.f1:>6.3f}  {mode}")
        if args.verbose:
            for leaf in p.false_leaves:
                print(f"    + {_show(leaf)}")
            for leaf in p.missed_leaves:
                print(f"    - {_show(leaf)}")
    lc, bc = report.leaves, report.benefits
    print(f"leaves: {lc.tp} matched, {lc.fp} false, {lc.fn} missed")
    print(f"leaf precision {lc.precision:.3f}  recall {lc.recall:.3f}  F1 {lc.f1:.3f}")
    print(f"mode accuracy {report.mode_accuracy:.3f}  "
          f"({sum(p.mode_ok for p in report.policies)}/{len(report.policies)})")
    print(f"dates (issued_on, valid_from, valid_until) accuracy {report.date_accuracy:.3f}")
    print(f"benefits precision {bc.precision:.3f}  recall {bc.recall:.3f}  F1 {bc.f1:.3f}")
    return 0


def _show(leaf: Any) -> str:
    value = json.dumps(leaf.get("value"), ensure_ascii=False)
    return f"{leaf.get('field')} {leaf.get('op')} {value}  «{leaf.get('source', '')}»"
