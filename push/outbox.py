"""The transactional outbox: new verdict snapshots and their news, written together.

:func:`write_changes` runs inside the caller's transaction. It

1. turns the current verdicts into the new snapshot of each (firm, policy) pair, with a
   ``version`` that goes up exactly when the verdict changes (status, or the set of open
   items), and rewrites the columnar snapshot blobs that changed (``push.snapshots``);
2. writes the events of each rewritten blob as one compact fan-out row keyed by the
   blob's (policy, bucket, seq) (``push.fanout``) — a rerun after a crash finds the
   snapshot already moved and computes nothing, and the key refuses a duplicate.

The per-firm rows (``push_notifications``, keyed by (firm, policy, event, version), and
their ``push_deliveries``) are made when the dispatcher expands the fan-out rows, with
``ON CONFLICT DO NOTHING``. Publishing a policy that matches a million firms therefore
writes a few hundred rows, not two million.

If anything fails, the transaction rolls back: no snapshot moves without its news, and
no news exists without the snapshot that explains it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from matcher.changes import (
    DEADLINE_APPROACHING,
    EventColumns,
    MatchColumns,
    join_pairs,
)
from matcher.policy import Policy
from push import columnar, fanout, snapshots


@dataclass
class OutboxCounts:
    """What one write enqueued: events per kind, news written to the fan-out outbox
    (``notifications``; per-firm rows appear when it is expanded), snapshot pairs changed."""

    events: dict[str, int] = field(default_factory=dict)
    notifications: int = 0
    deliveries: int = 0
    snapshots: int = 0

    def add(self, other: OutboxCounts) -> None:
        for k, v in other.events.items():
            self.events[k] = self.events.get(k, 0) + v
        self.notifications += other.notifications
        self.deliveries += other.deliveries
        self.snapshots += other.snapshots


def load_snapshots(conn: sa.Connection, policy_ids: list[str] | None = None,
                   usccs: list[str] | None = None,
                   statuses: list[str] | None = None) -> snapshots.Loaded:
    """Stored snapshots (the "previous" verdicts) of a detection unit's scope."""
    return snapshots.load(conn, policy_ids, usccs, statuses)


def _new_state(prev: pd.DataFrame, cur: pd.DataFrame, as_of: dt.date) -> dict[str, np.ndarray]:
    """Per pair (in no particular order): the snapshot after this change, its version,
    and whether it must be written."""
    j = join_pairs(prev["uscc"].to_numpy(dtype=object), prev["policy_id"].to_numpy(dtype=object),
                   cur[MatchColumns.USCC].to_numpy(dtype=object),
                   cur[MatchColumns.POLICY_ID].to_numpy(dtype=object), "snapshot table",
                   sort=False)
    new = j.left < 0
    out: dict[str, np.ndarray] = {"uscc": j.uscc, "policy_id": j.policy_id}
    changed = np.zeros(len(j.uscc), dtype=bool)
    core = np.zeros(len(j.uscc), dtype=bool)
    for c in ("status", "unknown", "met", "review"):
        # Arrow text columns: a million rows compared and carried without Python strings.
        now = _text(cur, c, j.right, "ineligible" if c == "status" else "")
        before = _text(prev, c, j.left, "")
        out[c] = now
        differs = pc.not_equal(now, before).to_numpy(zero_copy_only=False)
        changed |= differs
        if c in ("status", "unknown"):
            core |= differs
    amount = _floats(cur, MatchColumns.AMOUNT, j.right)
    amount_prev = _floats(prev, "amount", j.left)
    same = (amount == amount_prev) | (np.isnan(amount) & np.isnan(amount_prev))
    out["amount"] = amount
    version = np.zeros(len(j.uscc), dtype=np.int64)
    if len(prev):
        hit = j.left >= 0
        version[hit] = prev["version"].to_numpy(dtype=np.int64)[j.left[hit]]
    bump = new | core
    out["version"] = np.where(bump, version + 1, version)
    told = np.full(len(j.uscc), as_of, dtype=object)
    if len(prev) and "as_of" in prev.columns:
        dates = pd.to_datetime(prev["as_of"], errors="coerce").dt.date.to_numpy(dtype=object)
        keep = ~bump & (j.left >= 0)
        told[keep] = dates[j.left[keep]]
    out["told"] = told
    out["write"] = bump | changed | ~same
    return out


def _text(frame: pd.DataFrame, name: str, idx: np.ndarray, fill: str) -> pa.Array:
    """``frame[name]`` at rows ``idx`` as Arrow text, ``fill`` where ``idx`` is -1 or the
    value is missing (``matcher.changes.take`` + ``column_values``, without objects)."""
    if name not in frame.columns or not len(frame):
        return pa.nulls(len(idx), pa.string()).fill_null(fill)
    col = frame[name]
    if hasattr(col.array, "__arrow_array__"):
        arr = pa.array(col.array)
    else:
        arr = pa.array(col.to_numpy(dtype=object), from_pandas=True)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    taken = arr.take(pa.array(np.where(idx >= 0, idx, 0), mask=idx < 0))
    return taken.fill_null(fill) if taken.null_count else taken


def _floats(frame: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64) if len(
        frame) else np.zeros(0)
    out = np.full(len(idx), np.nan)
    hit = idx >= 0
    out[hit] = values[idx[hit]]
    return out


def write_changes(
    conn: sa.Connection,
    loaded: snapshots.Loaded,
    cur: pd.DataFrame,
    events: pd.DataFrame,
    policies: Mapping[str, Policy],
    as_of: dt.date,
    now: dt.datetime,
) -> OutboxCounts:
    """Store new snapshots and their fan-out news for one diff, in ``conn``'s transaction.

    ``loaded`` are the stored snapshots of the scope that was re-evaluated (see
    :func:`load_snapshots`), ``cur`` the current eligible/undetermined verdicts of that
    scope (``matcher.changes.matched_table``) and ``events`` the output of
    ``matcher.changes.newly_matched`` on the two (at most one event per pair).
    """
    counts = OutboxCounts()
    prev = loaded.frame
    st = _new_state(prev, cur, as_of)
    at = np.zeros(0, dtype=np.int64)  # the state row of each event
    if len(events):
        ej = join_pairs(st["uscc"], st["policy_id"],
                        events[EventColumns.USCC].to_numpy(dtype=object),
                        events[EventColumns.POLICY_ID].to_numpy(dtype=object), "event table",
                        sort=False)
        if (ej.left[ej.right >= 0] < 0).any():
            raise ValueError("an event names a (uscc, policy_id) pair outside the diffed scope")
        at = np.empty(len(events), dtype=np.int64)
        at[ej.right[ej.right >= 0]] = ej.left[ej.right >= 0]
        reminded = at[(events[EventColumns.EVENT] == DEADLINE_APPROACHING).to_numpy()]
        st["told"][reminded] = as_of
        st["write"][reminded] = True
    state = {"uscc": st["uscc"], "policy_id": st["policy_id"], "status": st["status"],
             "amount": st["amount"], "unknown": st["unknown"], "met": st["met"],
             "review": st["review"], "version": st["version"], "as_of": st["told"]}
    bucket = columnar.bucket_of(st["uscc"])
    seqs = snapshots.write(conn, loaded, state, st["write"], bucket, now)
    counts.snapshots = int(st["write"].sum())
    if not len(events):
        return counts
    counts.events = {str(k): int(v) for k, v in
                     events[EventColumns.EVENT].value_counts().sort_index().items()}
    body = {
        "uscc": events[EventColumns.USCC].reset_index(drop=True),
        "policy_id": events[EventColumns.POLICY_ID].reset_index(drop=True),
        "event": events[EventColumns.EVENT].reset_index(drop=True),
        "version": st["version"][at],
        "status": events[EventColumns.STATUS].reset_index(drop=True),
        "previous_status": events[EventColumns.PREVIOUS_STATUS].reset_index(drop=True),
        "amount": events[EventColumns.AMOUNT].reset_index(drop=True),
        "unknown": events[EventColumns.UNKNOWN].reset_index(drop=True),
        "met": st["met"].take(pa.array(at)), "review": st["review"].take(pa.array(at)),
        "cause": events[EventColumns.CAUSE].reset_index(drop=True),
        "days_left": events[EventColumns.DAYS_LEFT],
    }
    fanout.write(conn, body, bucket[at], seqs,
                 {pid: (p.title or pid) for pid, p in policies.items()},
                 {pid: p.valid_until for pid, p in policies.items()}, as_of, now)
    counts.notifications = len(events)
    return counts


def policy_topics(policy: Policy) -> frozenset[str]:
    """Topics a firm can mute that this policy belongs to (benefit kinds and mode)."""
    return frozenset({b.kind for b in policy.benefits} | {policy.mode})
