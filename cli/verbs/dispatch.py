"""``policy-match dispatch [--once] [--loop --interval S]``: detect, then deliver what is due.

Each round first runs push detection on whatever changed in the store since the last
round (new or withdrawn policies, changed firms, the daily deadline sweep), then sends
every due delivery through the subscribers' channels. ``--once`` (the default) does one
round and exits; ``--loop`` repeats every ``--interval`` seconds until interrupted.
Several dispatchers may run at once against the same store: they never send the same
delivery twice.

SMTP and the public URL for unsubscribe links come from ``POLICY_MATCH_SMTP_HOST``,
``_PORT``, ``_FROM``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``, ``_SSL`` and
``POLICY_MATCH_PUBLIC_URL``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from cli.args import iso_date
from matcher.errors import PolicyMatchError
from push.channels.email import SmtpSettings
from push.detect import Detector, DetectReport, DetectSettings
from push.dispatch import Dispatcher, DispatchReport, DispatchSettings
from push.schedule import today_in_china
from push.warm import WarmFirms
from store.events import load_listeners
from store.store import open_store


def register(sub: Any) -> None:
    d = DispatchSettings()
    k = DetectSettings()
    p = sub.add_parser("dispatch", help="detect policy matches and deliver push notifications")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round, then exit (default)")
    mode.add_argument("--loop", action="store_true", help="repeat until interrupted")
    p.add_argument("--interval", type=float, default=30.0,
                   help="seconds between rounds with --loop (default 30)")
    p.add_argument("--as-of", type=iso_date, default=None,
                   help="evaluation date for detection (default: today in China)")
    p.add_argument("--no-detect", action="store_true", help="only deliver, do not detect")
    p.add_argument("--batch", type=int, default=d.batch,
                   help=f"deliveries per channel per claim (default {d.batch})")
    p.add_argument("--lease", type=float, default=d.lease_seconds,
                   help=f"seconds a claimed channel stays ours (default {d.lease_seconds:g})")
    p.add_argument("--max-attempts", type=int, default=d.max_attempts,
                   help=f"attempts before a delivery is dead (default {d.max_attempts})")
    p.add_argument("--backoff", type=float, default=d.backoff_base,
                   help=f"first retry delay in seconds, doubling (default {d.backoff_base:g})")
    p.add_argument("--timeout", type=float, default=d.webhook_timeout,
                   help=f"webhook timeout in seconds (default {d.webhook_timeout:g})")
    p.add_argument("--digest-hour", type=int, default=d.digest_hour,
                   help=f"hour (China time) daily digests are sent (default {d.digest_hour})")
    p.add_argument("--k-missing", type=int, default=k.k_missing,
                   help=f"tell undetermined firms missing at most K fields (default {k.k_missing})")
    p.add_argument("--deadline-days", type=int, default=k.deadline_days,
                   help=f"remind this many days before valid_until (default {k.deadline_days})")
    p.set_defaults(func=run)


def _summary(det: DetectReport | None, rep: DispatchReport) -> str:
    parts = []
    if det is not None:
        events = ", ".join(f"{n} {e}" for e, n in sorted(det.counts.events.items())) or "none"
        parts.append(f"detected {det.counts.notifications} new notification(s) ({events}) "
                     f"from {len(det.policies)} changed policies and {det.firms} changed firms")
    parts.append(f"expanded {rep.expanded} notification(s) from the outbox, "
                 f"sent {rep.sent}, retrying {rep.failed}, dead {rep.dead}, "
                 f"folded into digest {rep.folded}, digests {rep.digests}, "
                 f"cancelled {rep.cancelled}")
    return "policy-match: " + "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    smtp = SmtpSettings.from_env(os.environ)
    settings = replace(
        DispatchSettings(), batch=args.batch, lease_seconds=args.lease,
        max_attempts=args.max_attempts, backoff_base=args.backoff,
        webhook_timeout=args.timeout, digest_hour=args.digest_hour, smtp=smtp,
    )
    try:
        settings.validate()
    except ValueError as e:
        raise PolicyMatchError(f"dispatch: {e}") from None
    detect = DetectSettings(k_missing=args.k_missing, deadline_days=args.deadline_days,
                            digest_hour=args.digest_hour)
    with open_store() as store:
        load_listeners(store)
        dispatcher = Dispatcher(store, settings)

        def as_of() -> dt.date:
            return args.as_of or today_in_china(store.clock())

        # A loop keeps one detector, and with it every stored firm derived and encoded
        # (``push.warm``): a policy published while it runs is matched against a million
        # firms without reading them again. A single round has nothing to keep warm.
        detector = Detector(store, detect, WarmFirms() if args.loop else None)

        def detect_round() -> DetectReport | None:
            return None if args.no_detect else detector.detect_pending(as_of())

        if not args.loop:
            det = detect_round()
            rep = dispatcher.run_once()
            print(_summary(det, rep), file=sys.stderr)
            return 0
        if not args.no_detect:
            detector.warm_up(as_of())
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        last: dict[str, DetectReport | None] = {"det": None}

        def before() -> None:
            last["det"] = detect_round()

        def after(rep: DispatchReport) -> None:
            if rep.progress or (last["det"] and last["det"].counts.notifications):
                print(_summary(last["det"], rep), file=sys.stderr, flush=True)

        try:
            dispatcher.run_loop(args.interval, stop, before_round=before, on_round=after)
        except KeyboardInterrupt:
            stop.set()
    return 0
