"""Entry point: ``policy-match VERB …``. Errors are one line on stderr, never a traceback.

Each verb lives in ``cli/verbs/<verb>.py`` with ``register(subparsers)`` (which sets
``func`` on its parser) so verbs can be added without touching this file's logic. The
module name is the verb with ``-`` spelled ``_`` (and a trailing ``_`` where the verb is a
Python keyword: ``import_``).

Only the verb being run is imported: verbs pull in heavy libraries (torch, dask, FastAPI),
and a verb whose imports fail must not take the others down with it. ``--help`` imports
them all and lists a broken one with its import error instead of crashing.

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


def verb_modules() -> dict[str, str]:
    """Verb name → module name, from the files in ``cli/verbs`` (no imports)."""
    names = (m.name for m in pkgutil.iter_modules(cli.verbs.__path__))
    return {name.rstrip("_").replace("_", "-"): name for name in sorted(names)}


def _register(sub: argparse._SubParsersAction, verb: str, module_name: str) -> None:  # type: ignore[type-arg]
    try:
        module = importlib.import_module(f"cli.verbs.{module_name}")
    except Exception as e:  # noqa: BLE001 - reported when the verb is used
        reason = f"{type(e).__name__}: {e}"
        # No option prefix: whatever follows the verb is accepted, so the user sees why
        # the verb cannot run rather than a complaint about its arguments.
        p = sub.add_parser(verb, help=f"(unavailable: {reason})", add_help=False,
                           prefix_chars="\0")
        p.add_argument("rest", nargs="*")
        p.set_defaults(func=_unavailable(verb, reason))
        return
    module.register(sub)


def _unavailable(verb: str, reason: str):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        print(f"policy-match: error: the '{verb}' command cannot load: {reason}", file=sys.stderr)
        return 1
    return run


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a verb, only that verb is loaded."""
    parser = argparse.ArgumentParser(
        prog="policy-match",
        description="政策找企业: match enterprise-support policies to firms.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    modules = verb_modules()
    first = next((a for a in argv or () if not a.startswith("-")), None)
    chosen = {first: modules[first]} if first in modules else modules
    for verb, module_name in chosen.items():
        _register(sub, verb, module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
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
