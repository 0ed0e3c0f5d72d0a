"""``policy-match serve --host H --port P``: the HTTP API over the configured store.

The schema is brought up to date once here, before any worker starts, so workers never
race to migrate. The per-key rate limit's token table is created here too and named to the
workers (``POLICY_MATCH_RATE_TABLE``), so with ``--workers N`` a key gets the configured
rate in total, not N times it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from api.ratelimit import create_table
from store.store import open_store
from store.url import redacted


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    with open_store() as store:  # migrate now, and fail early on a bad URL
        where = redacted(store.url)
    print(f"policy-match: serving {where} on http://{args.host}:{args.port} "
          f"(docs at /docs)", file=sys.stderr)
    table = create_table()
    os.environ["POLICY_MATCH_RATE_TABLE"] = str(table)  # inherited by the workers
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down; as an
    # exception, not the default handler's instant exit, so the table is removed below.
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run("api.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level, access_log=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.environ.pop("POLICY_MATCH_RATE_TABLE", None)
        table.unlink(missing_ok=True)
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
