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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from matcher import coded
from matcher.changes import EVENTS, PairEvents, join_pairs, open_items, pair_events
from matcher.coded import MatchCodes
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


@dataclass(frozen=True)
class Diff:
    """The pairs of one unit lined up: the new snapshot of each (``state``), which rows
    must be written, the status before (``matcher.coded`` codes; absent for a new pair),
    the days to each pair's ``valid_until`` (NaN: open-ended) and the news
    (``matcher.changes.PairEvents``)."""

    state: MatchCodes
    write: np.ndarray
    before: np.ndarray
    days_left: np.ndarray
    events: PairEvents


def _join(prev: MatchCodes, cur: MatchCodes, unique: bool) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray, pd.Index,
                                                                      np.ndarray]:
    """Pairs of both sides on (uscc, policy): (left, right, uscc, policy categories,
    policy codes). Policy ids are compared as codes over their joint categories."""
    pcats = coded.union(prev.policy_id, cur.policy_id)
    left_p = coded.recode(prev.policy_id, pcats) if len(prev) else np.zeros(0, np.int32)
    right_p = coded.recode(cur.policy_id, pcats) if len(cur) else np.zeros(0, np.int32)
    j = join_pairs(prev.uscc, left_p, cur.uscc, right_p, "snapshot table", sort=False,
                   checked=not unique)
    return j.left, j.right, j.uscc, pcats, np.asarray(j.policy_id, dtype=np.int32)


def diff(prev: MatchCodes, cur: MatchCodes, as_of: dt.date, *, k_missing: int,
         deadline_days: int | None, valid_until: Mapping[str, dt.date | None],
         withdrawn: Collection[str] = (), unique: bool = False) -> Diff:
    """Line up the stored snapshot rows and the current verdicts of one unit.

    A pair's ``version`` goes up exactly when its verdict changes (status, or the set of
    open items); ``told`` keeps the day the firm last heard unless that happens or a
    reminder goes out. ``unique``: the caller knows ``cur`` has one row per pair (one
    evaluation over a firm table keyed by USCC), so the duplicate check is skipped —
    for a policy new to a million firms that check would be a tenth of the budget.
    """
    left, right, uscc, pcats, pol = _join(prev, cur, unique)
    n = len(uscc)
    hit_l, hit_r = left >= 0, right >= 0
    status = np.full(n, coded.INELIGIBLE, dtype=np.int8)
    status[hit_r] = cur.status[right[hit_r]]
    before = np.full(n, coded.ABSENT, dtype=np.int8)
    before[hit_l] = prev.status[left[hit_l]]
    texts: dict[str, pd.Categorical] = {}
    changed = status != before
    core = changed.copy()
    n_before = np.zeros(n, dtype=np.int64)
    for name in coded.TEXTS:
        cats = coded.union(getattr(prev, name), getattr(cur, name))
        now = coded.take_text(getattr(cur, name), right, cats)
        was = coded.take_text(getattr(prev, name), left, cats)
        differs = now != was
        changed |= differs
        texts[name] = pd.Categorical.from_codes(now, cats)
        if name == "unknown":
            core |= differs
            n_before = open_items(pd.Categorical.from_codes(was, cats))
    amount = np.full(n, np.nan)
    amount[hit_r] = cur.amount[right[hit_r]]
    amount_prev = np.full(n, np.nan)
    amount_prev[hit_l] = prev.amount[left[hit_l]]
    same = (amount == amount_prev) | (np.isnan(amount) & np.isnan(amount_prev))
    version = np.zeros(n, dtype=np.int64)
    told = np.full(n, as_of.toordinal(), dtype=np.int64)
    if prev.version is not None:
        version[hit_l] = prev.version[left[hit_l]]
    bump = ~hit_l | core
    if prev.told is not None:
        keep = ~bump & hit_l
        told[keep] = prev.told[left[keep]]
    state = MatchCodes(uscc=uscc, policy_id=pd.Categorical.from_codes(pol, pcats),
                       status=status, amount=amount, unknown=texts["unknown"],
                       met=texts["met"], review=texts["review"],
                       version=np.where(bump, version + 1, version), told=told)
    ends = [valid_until.get(p) for p in pcats]
    until = np.array([np.nan if d is None else float(d.toordinal()) for d in ends] + [np.nan],
                     dtype=np.float64)
    days_left = until[pol] - as_of.toordinal() if n else np.zeros(0)
    told_days = np.full(n, np.nan)
    if prev.told is not None:
        told_days[hit_l] = until[pol[hit_l]] - prev.told[left[hit_l]]
    gone = np.isin(np.asarray(pcats, dtype=object), list(withdrawn)) if withdrawn else \
        np.zeros(len(pcats), dtype=bool)
    events = pair_events(status, before, open_items(state.unknown), n_before,
                         np.append(gone, False)[pol], days_left, told_days, k_missing,
                         deadline_days)
    reminded = events.rows[events.kind == EVENTS.index("deadline_approaching")]
    told[reminded] = as_of.toordinal()  # ``state.told`` is this array
    write = bump | changed | ~same
    write[reminded] = True
    return Diff(state, write, before, days_left, events)


def write_changes(conn: sa.Connection, loaded: snapshots.Loaded, d: Diff,
                  policies: Mapping[str, Policy], as_of: dt.date,
                  now: dt.datetime) -> OutboxCounts:
    """Store new snapshots and their fan-out news for one diff, in ``conn``'s transaction.

    ``loaded`` are the stored snapshots of the scope that was re-evaluated (see
    :func:`load_snapshots`) and ``d`` their :func:`diff` against the current verdicts.
    """
    counts = OutboxCounts()
    # One sort by (policy, bucket) for both writers: blobs are then zero-copy slices.
    # The writers read USCCs as fixed-width bytes, so the state is reordered without its
    # Python strings (gathering a million of them in a new order costs ~0.1 s).
    raw = columnar.uscc_bytes(d.state.uscc)
    key = (np.asarray(d.state.policy_id.codes, dtype=np.int64) * columnar.BUCKETS
           + columnar.bucket_of(raw))
    order = columnar.key_order(key)
    keyed = replace(d.state, uscc=raw) if columnar.fixed_width(raw) else d.state
    st, raw, key = keyed.take(order), raw[order], key[order]
    seqs = snapshots.write(conn, loaded, st, raw, d.write[order], key, now)
    counts.snapshots = int(d.write.sum())
    ev = d.events
    if not len(ev.rows):
        return counts
    counts.events = {EVENTS[k]: int(c) for k, c in
                     enumerate(np.bincount(ev.kind, minlength=len(EVENTS))) if c}
    kind = np.full(len(order), -1, dtype=np.int8)
    cause = np.zeros(len(order), dtype=np.int8)
    kind[ev.rows], cause[ev.rows] = ev.kind, ev.cause
    kind, cause = kind[order], cause[order]
    rows = np.flatnonzero(kind >= 0)
    at = order[rows]  # the same pairs' positions in ``d``
    news = st if len(rows) == len(st) else st.take(rows)
    table = fanout.event_table(news, raw[rows], kind[rows], d.before[at], cause[rows],
                               d.days_left[at])
    fanout.write(conn, table, {"unknown": news.unknown, "met": news.met,
                               "review": news.review}, st.policy_id.categories, key[rows], seqs,
                 {pid: (p.title or pid) for pid, p in policies.items()},
                 {pid: p.valid_until for pid, p in policies.items()}, as_of, now)
    counts.notifications = len(rows)
    return counts


def policy_topics(policy: Policy) -> frozenset[str]:
    """Topics a firm can mute that this policy belongs to (benefit kinds and mode)."""
    return frozenset({b.kind for b in policy.benefits} | {policy.mode})
