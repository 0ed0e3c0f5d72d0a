"""The transactional outbox: new verdict snapshots and their notifications, written together.

:func:`write_changes` runs inside the caller's transaction. It

1. turns the current verdicts into the new snapshot of each (firm, policy) pair, with a
   ``version`` that goes up exactly when the verdict changes (status, or the set of open
   items);
2. inserts one notification per event keyed by (firm, policy, event, version) with
   ``ON CONFLICT DO NOTHING`` — so a rerun after a crash, or two detections racing,
   computes the same keys and enqueues nothing twice;
3. creates one delivery per (new notification, active channel) of subscribed firms,
   unless the firm muted that topic; daily-digest subscribers' deliveries are due at the
   next digest time.

If anything fails, the transaction rolls back: no snapshot moves without its
notifications, and no notification exists without the snapshot that explains it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from matcher.changes import (
    DEADLINE_APPROACHING,
    EventColumns,
    MatchColumns,
    column_values,
    join_pairs,
    take,
)
from matcher.policy import Policy
from push.bulk import insert_rows
from push.subscriptions import muted
from push.tables import (
    push_channels,
    push_deliveries,
    push_notifications,
    push_subscriptions,
    push_verdicts,
)

SNAPSHOT_COLUMNS = ("uscc", "policy_id", "status", "amount", "unknown", "met", "review",
                    "version", "as_of", "updated_at")
NOTIFICATION_COLUMNS = ("uscc", "policy_id", "event", "version", "status", "previous_status",
                        "amount", "unknown", "met", "review", "cause", "days_left",
                        "valid_until", "title", "as_of", "created_at")
DELIVERY_COLUMNS = ("notification_id", "channel_id", "state", "digest", "due_at", "attempts",
                    "created_at")
_KEY = ["uscc", "policy_id"]


@dataclass
class OutboxCounts:
    """What one write enqueued (events computed vs rows actually new)."""

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


def load_snapshots(conn: sa.Connection, where: sa.ColumnElement[bool] | None = None,
                   join_firms_revision: tuple[int, int] | None = None,
                   policy_ids: list[str] | None = None) -> pd.DataFrame:
    """Stored snapshots (the "previous" verdicts) as a frame, ``as_of`` as dates."""
    v = push_verdicts
    stmt = sa.select(v.c.uscc, v.c.policy_id, v.c.status, v.c.amount, v.c.unknown, v.c.met,
                     v.c.review, v.c.version, v.c.as_of)
    if join_firms_revision is not None:
        from store.schema import firms

        lo, hi = join_firms_revision
        stmt = stmt.join(firms, firms.c.uscc == v.c.uscc).where(
            firms.c.revision > lo, firms.c.revision <= hi)
    if where is not None:
        stmt = stmt.where(where)
    if policy_ids is not None:
        stmt = stmt.where(v.c.policy_id.in_(policy_ids))
    rows = conn.execute(stmt).all()
    cols = ["uscc", "policy_id", "status", "amount", "unknown", "met", "review", "version",
            "as_of"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").astype("float64")
    frame["as_of"] = pd.to_datetime(frame["as_of"], errors="coerce")
    return frame


def _new_state(prev: pd.DataFrame, cur: pd.DataFrame, as_of: dt.date) -> dict[str, np.ndarray]:
    """Per pair (in (uscc, policy_id) order): the snapshot after this change, its version,
    and whether it must be written."""
    j = join_pairs(prev["uscc"].to_numpy(dtype=object), prev["policy_id"].to_numpy(dtype=object),
                   cur[MatchColumns.USCC].to_numpy(dtype=object),
                   cur[MatchColumns.POLICY_ID].to_numpy(dtype=object), "snapshot table")
    new = j.left < 0
    out: dict[str, np.ndarray] = {"uscc": j.uscc, "policy_id": j.policy_id}
    changed = np.zeros(len(j.uscc), dtype=bool)
    core = np.zeros(len(j.uscc), dtype=bool)
    for c in ("status", "unknown", "met", "review"):
        now = take(column_values(cur, c), j.right, "ineligible" if c == "status" else "")
        before = take(column_values(prev, c), j.left, "")
        out[c] = now
        differs = now != before
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


def _floats(frame: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64) if len(
        frame) else np.zeros(0)
    out = np.full(len(idx), np.nan)
    hit = idx >= 0
    out[hit] = values[idx[hit]]
    return out


def write_changes(
    conn: sa.Connection,
    prev: pd.DataFrame,
    cur: pd.DataFrame,
    events: pd.DataFrame,
    policies: Mapping[str, Policy],
    as_of: dt.date,
    now: dt.datetime,
    digest_at: dt.datetime,
) -> OutboxCounts:
    """Store new snapshots, notifications and deliveries for one diff, in ``conn``'s transaction.

    ``prev`` are the stored snapshots of the scope that was re-evaluated (see
    :func:`load_snapshots`), ``cur`` the current eligible/undetermined verdicts of that
    scope (``matcher.changes.matched_table``) and ``events`` the output of
    ``matcher.changes.newly_matched`` on the two (at most one event per pair).
    """
    counts = OutboxCounts()
    st = _new_state(prev, cur, as_of)
    at = np.zeros(0, dtype=np.int64)  # the state row of each event
    if len(events):
        ej = join_pairs(st["uscc"], st["policy_id"],
                        events[EventColumns.USCC].to_numpy(dtype=object),
                        events[EventColumns.POLICY_ID].to_numpy(dtype=object), "event table")
        if (ej.left[ej.right >= 0] < 0).any():
            raise ValueError("an event names a (uscc, policy_id) pair outside the diffed scope")
        at = np.empty(len(events), dtype=np.int64)
        at[ej.right[ej.right >= 0]] = ej.left[ej.right >= 0]
        reminded = at[(events[EventColumns.EVENT] == DEADLINE_APPROACHING).to_numpy()]
        st["told"][reminded] = as_of
        st["write"][reminded] = True
    w = np.flatnonzero(st["write"])
    if len(w):
        rows = list(zip(
            st["uscc"][w], st["policy_id"][w], st["status"][w], st["amount"][w].tolist(),
            st["unknown"][w], st["met"][w], st["review"][w], st["version"][w].tolist(),
            st["told"][w], [now] * len(w), strict=True,
        ))
        insert_rows(conn, push_verdicts, SNAPSHOT_COLUMNS, rows, conflict=_KEY,
                    update=SNAPSHOT_COLUMNS[2:])
        counts.snapshots = len(rows)
    if not len(events):
        return counts
    counts.events = {str(k): int(v) for k, v in
                     events[EventColumns.EVENT].value_counts().sort_index().items()}
    titles = {pid: (p.title or pid) for pid, p in policies.items()}
    until = {pid: p.valid_until for pid, p in policies.items()}
    pids = events[EventColumns.POLICY_ID]
    days = events[EventColumns.DAYS_LEFT].astype("Int64")
    amount = pd.to_numeric(events[EventColumns.AMOUNT].replace("", np.nan), errors="coerce")
    rows = list(zip(
        events[EventColumns.USCC], pids, events[EventColumns.EVENT],
        st["version"][at].tolist(), events[EventColumns.STATUS],
        events[EventColumns.PREVIOUS_STATUS], amount.astype("float64").tolist(),
        events[EventColumns.UNKNOWN].fillna(""), st["met"][at], st["review"][at],
        events[EventColumns.CAUSE].fillna(""),
        [None if d is pd.NA else int(d) for d in days],
        pids.map(until), pids.map(titles), [as_of] * len(events), [now] * len(events),
        strict=True,
    ))
    before = conn.execute(sa.select(sa.func.max(push_notifications.c.id))).scalar() or 0
    insert_rows(conn, push_notifications, NOTIFICATION_COLUMNS, rows,
                conflict=["uscc", "policy_id", "event", "version"])
    counts.notifications = int(conn.execute(
        sa.select(sa.func.count()).select_from(push_notifications)
        .where(push_notifications.c.id > before)).scalar_one())
    counts.deliveries = _enqueue_deliveries(conn, before, policies, now, digest_at)
    return counts


def policy_topics(policy: Policy) -> frozenset[str]:
    """Topics a firm can mute that this policy belongs to (benefit kinds and mode)."""
    return frozenset({b.kind for b in policy.benefits} | {policy.mode})


def _enqueue_deliveries(conn: sa.Connection, after_id: int, policies: Mapping[str, Policy],
                        now: dt.datetime, digest_at: dt.datetime) -> int:
    n, c, s = push_notifications, push_channels, push_subscriptions
    rows = conn.execute(
        sa.select(n.c.id, n.c.policy_id, n.c.event, c.c.id.label("channel_id"), s.c.digest,
                  s.c.muted_topics)
        .join(c, sa.and_(c.c.uscc == n.c.uscc, c.c.active.is_(True)))
        .join(s, s.c.uscc == n.c.uscc)
        .where(n.c.id > after_id)
        .order_by(n.c.id, c.c.id)
    ).all()
    topics = {pid: policy_topics(p) for pid, p in policies.items()}
    out = []
    for r in rows:
        if muted(r.muted_topics or [], r.event, r.policy_id,
                 topics.get(r.policy_id, frozenset())):
            continue
        daily = r.digest == "daily"
        out.append((r.id, r.channel_id, "pending", daily, digest_at if daily else now, 0, now))
    insert_rows(conn, push_deliveries, DELIVERY_COLUMNS, out,
                conflict=["notification_id", "channel_id"])
    return len(out)
