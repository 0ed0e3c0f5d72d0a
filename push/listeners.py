"""Store hooks: detect inside the very transaction that publishes a policy.

``store.events.load_listeners`` imports this module in every command and API process
that writes to the store. A publish, withdrawal or revision of a policy then enqueues its
notifications in the same transaction as the change itself: the publish and the news
about it commit together or not at all (about a second for a million stored firms).

Small firm writes are detected here too: a profile written through ``PUT /firms/{uscc}``
(at most ``MAX_FIRMS_IN_TRANSACTION`` firms in the transaction) is re-evaluated against
every live policy and its news enqueued in the transaction that writes it
(``on_firms``) — one firm's snapshots are one small blob per policy
(``push.snapshots``), tens of milliseconds for 215 policies (``bench/RESULTS.md``,
section push). Larger writes — bulk-import chunks — are not evaluated in their
transaction: doing so made a 10,000-firm chunk ~7× slower (0.9 → 6.4 s). They are left
to :func:`push.detect.detect_pending`, which finds them from the firms revision counter.
When no older firm change is pending, the firms watermark moves with an in-transaction
detection; otherwise the backlog stays for ``detect_pending`` (re-evaluating an
already-told firm finds nothing new, so nothing is told twice). Policies beyond
``MAX_POLICIES_IN_TRANSACTION`` in one transaction are also left to ``detect_pending``,
which ``policy-match dispatch`` runs before every delivery round. Nothing is lost either
way: pending work is found from the store's revision counters, not from these calls.

A command or API process has no warm firm table, so a policy open to most of a million
firms costs it ~5 s to detect in the publishing transaction. A deployment whose
dispatcher loop keeps the warm table (``push.warm``; ≤ 1 s for the same policy) can set
``POLICY_MATCH_PUSH_DETECT=dispatcher``: publishing then commits at once and the
dispatcher's next round detects and enqueues, in its own transaction, with the same
exactly-once guarantees. Firm writes are still detected in their transaction.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import sqlalchemy as sa

from matcher.errors import PolicyMatchError
from push.detect import (
    FIRMS_MARK,
    POLICIES_MARK,
    Detector,
    DetectReport,
    _lock,
    _mark,
    _set_mark,
    _store_counter,
    live_policies,
)
from push.schedule import today_in_china
from store.schema import policies

# About a second each with a million firms: a file of more waits for the dispatcher.
MAX_POLICIES_IN_TRANSACTION = 20
# A write of more firms than this (a bulk-import chunk) is left to ``detect_pending``:
# re-evaluating 10,000 firms against every live policy inside the chunk's transaction
# made an import ~7x slower, while one firm (``PUT /firms``) is cheap enough to tell now.
MAX_FIRMS_IN_TRANSACTION = 100
_DONE_KEY = "push.policy_units"


DETECT_ENV = "POLICY_MATCH_PUSH_DETECT"
DETECT_MODES = ("transaction", "dispatcher")


def policies_in_transaction() -> bool:
    """Whether policy changes are detected in their own transaction (see above)."""
    mode = os.environ.get(DETECT_ENV, "").strip() or "transaction"
    if mode not in DETECT_MODES:
        raise PolicyMatchError(f"{DETECT_ENV}={mode!r}: expected one of "
                               f"{', '.join(DETECT_MODES)}")
    return mode == "transaction"


def register(store: Any) -> None:
    """Attach the push listeners to ``store`` (called by ``load_listeners``)."""
    detector = Detector(store)
    detect_policies = policies_in_transaction()

    def on_policies(conn: sa.Connection, _ids: list[str]) -> None:
        # ``conn.info`` outlives the transaction (it belongs to the pooled connection),
        # so the count is kept with a reference to the transaction it is about.
        txn = conn.get_transaction()
        seen, done = conn.info.get(_DONE_KEY, (None, 0))
        done = done if seen is not None and seen() is txn else 0
        if done >= MAX_POLICIES_IN_TRANSACTION:
            return
        as_of = today_in_china(store.clock())
        report = DetectReport()
        _lock(conn)
        mark = _mark(conn, POLICIES_MARK)
        rows = conn.execute(sa.select(policies).where(policies.c.revision > mark)
                            .order_by(policies.c.revision)
                            .limit(MAX_POLICIES_IN_TRANSACTION - done)).mappings().all()
        for row in rows:
            detector.policy_unit(conn, row, as_of, report)
            _set_mark(conn, POLICIES_MARK, int(row["revision"]))
        conn.info[_DONE_KEY] = (weakref.ref(txn), done + len(rows))

    def on_firms(conn: sa.Connection, usccs: list[str]) -> None:
        if len(usccs) > MAX_FIRMS_IN_TRANSACTION:
            return  # the revision counter moved: detect_pending finds these firms
        # Every firm row this transaction wrote carries the revision it just bumped.
        as_of = today_in_china(store.clock())
        _lock(conn)
        rev = _store_counter(conn, FIRMS_MARK)
        scope = live_policies(conn, as_of, detector.policy_cache)
        detector.firm_unit(conn, rev - 1, rev, scope, as_of, DetectReport())
        if _mark(conn, FIRMS_MARK) == rev - 1:
            _set_mark(conn, FIRMS_MARK, rev)

    if detect_policies:
        for event in ("policies.published", "policies.withdrawn", "policies.updated"):
            store.listen(event, on_policies)
    store.listen("firms.changed", on_firms)
