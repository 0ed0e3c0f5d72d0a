"""Entry point: ``policy-match VERB …``. Errors are one line on stderr, never a traceback.

Each verb lives in ``cli/verbs/<verb>.py`` with ``register(subparsers)`` (which sets
``func`` on its parser) so verbs can be added without touching this file's logic.

Exit status: 0 success (bad records are reported and skipped), 2 the run was refused
(unreadable file, invalid policy tree, bad arguments), 1 an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import cli.verbs
from matcher.errors import PolicyMatchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policy-match",
        description="政策找企业: match enterprise-support policies to firms.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    for info in sorted(pkgutil.iter_modules(cli.verbs.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"cli.verbs.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PolicyMatchError as e:
        print(f"policy-match: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("policy-match: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the contract promises no traceback
        if os.environ.get("POLICY_MATCH_DEBUG"):
            traceback.print_exc()
        print(
            f"policy-match: internal error: {type(e).__name__}: {e} "
            "(set POLICY_MATCH_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
