"""The compact fan-out outbox: one row per (policy, bucket, snapshot seq), expanded later.

Why: the outbox must be written in the transaction that stores the new snapshots, but
a policy that matches a million firms cannot afford a million rows there. Detection
writes the events of each rewritten snapshot blob as one ``push_fanout`` row (a
compressed columnar blob), keyed by the blob's ``(policy_id, bucket, seq)``: a rerun
computes nothing new (the snapshot moved with it) and a duplicate write is refused by
the unique key.

The dispatcher (and the inbox, and a newly opened channel) calls :func:`expand`, which
claims unexpanded rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the write lock on
SQLite), inserts one ``push_notifications`` row per event with ``ON CONFLICT DO
NOTHING`` on (uscc, policy_id, event, version), queues deliveries for subscribed firms
(mutes applied; digest subscribers at the next digest time) and marks the row expanded,
all in one transaction: a crash mid-expansion rolls back and the row is expanded again
later, never twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from matcher import coded
from matcher.changes import CAUSES, EVENTS
from matcher.coded import MatchCodes
from push import columnar
from push.bulk import insert_rows
from push.subscriptions import muted
from push.tables import (
    push_channels,
    push_deliveries,
    push_fanout,
    push_notifications,
    push_subscriptions,
)
from store.policy_rows import policy_from_row
from store.schema import policies
from store.store import as_utc

NOTIFICATION_COLUMNS = ("uscc", "policy_id", "event", "version", "status", "previous_status",
                        "amount", "unknown", "met", "review", "cause", "days_left",
                        "valid_until", "title", "as_of", "created_at")
DELIVERY_COLUMNS = ("notification_id", "channel_id", "state", "digest", "due_at", "attempts",
                    "created_at")
EXPAND_BATCH = 8  # fan-out rows per expansion transaction


def event_table(rows: MatchCodes, raw: np.ndarray, kind: np.ndarray, before: np.ndarray,
                cause: np.ndarray, days_left: np.ndarray) -> pa.Table:
    """The event columns that are not texts (the texts are ``rows``' own, added per blob
    by :func:`write`): ``rows`` are the new snapshot rows of the pairs with news
    (``raw``: their ``columnar.uscc_bytes``), ``kind`` indexes ``matcher.changes.EVENTS``,
    ``before`` the previous status code, ``cause`` indexes ``matcher.changes.CAUSES``,
    ``days_left`` is NaN when open-ended."""
    def names(codes: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, np.int8), pa.int8()),
                                              pa.array(list(values), pa.string()))

    return pa.table({
        "uscc": columnar.uscc_array(raw, rows.uscc),
        "event": names(kind, EVENTS),
        "version": pa.array(rows.version, pa.int32()),
        "status": names(rows.status, coded.STATUSES),
        "previous_status": names(before, coded.STATUSES),
        "amount": pa.array(rows.amount, pa.float64(), from_pandas=True),
        "cause": names(cause, CAUSES),
        "days_left": pa.array(days_left, pa.float64(), from_pandas=True).cast(pa.int32()),
    })


def write(conn: sa.Connection, events: pa.Table, texts: Mapping[str, pd.Categorical],
          policies: pd.Index, key: np.ndarray, seqs: Mapping[tuple[str, int], int],
          titles: Mapping[str, str], until: Mapping[str, dt.date | None], as_of: dt.date,
          now: dt.datetime) -> int:
    """Write ``events`` (:func:`event_table`) and their ``texts`` (``unknown``, ``met``,
    ``review``) as one row per (policy, bucket).

    ``key`` is each row's policy (a code into ``policies``) × ``BUCKETS`` + bucket, in
    ascending order. ``seqs`` gives the snapshot seq each (policy, bucket) was just
    rewritten to; every event's group must be in it (an event is a snapshot change).
    Returns the rows written.
    """
    if not len(key):
        return 0
    parts = columnar.keyed_tables(events, texts, key, SCHEMA.names)
    rows = []
    for (k, part), blob in zip(parts, columnar.encode_all([p for _, p in parts]), strict=True):
        pid, b = str(policies[k // columnar.BUCKETS]), k % columnar.BUCKETS
        seq = seqs.get((pid, b))
        if seq is None:
            raise ValueError(f"event for policy {pid}, bucket {b} without a snapshot change")
        rows.append({"policy_id": pid, "bucket": b, "seq": int(seq), "n": part.num_rows,
                     "data": blob, "title": titles.get(pid) or pid,
                     "valid_until": until.get(pid), "as_of": as_of, "created_at": now,
                     "expanded_at": None})
    f = push_fanout
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    conn.execute(insert(f).on_conflict_do_nothing(
        index_elements=["policy_id", "bucket", "seq"]), rows)
    return len(rows)


_TEXT = pa.dictionary(pa.int32(), pa.string())
_NAME = pa.dictionary(pa.int8(), pa.string())
# Written with dictionary-coded texts (narrowest index type) and 32-bit integers; blobs
# from before hold plain strings and 64-bit integers. Read through :data:`PLAIN_SCHEMA`.
SCHEMA = pa.schema([("uscc", pa.string()), ("event", _NAME), ("version", pa.int32()),
                    ("status", _NAME), ("previous_status", _NAME),
                    ("amount", pa.float64()), ("unknown", _TEXT), ("met", _TEXT),
                    ("review", _TEXT), ("cause", _NAME), ("days_left", pa.int32())])
PLAIN_SCHEMA = pa.schema([(f.name, f.type.value_type if pa.types.is_dictionary(f.type)
                           else f.type) for f in SCHEMA])


def pending(conn: sa.Connection, bucket: int | None = None) -> int:
    """Fan-out rows not yet expanded (of one bucket, or all)."""
    f = push_fanout
    stmt = sa.select(sa.func.count()).select_from(f).where(f.c.expanded_at.is_(None))
    if bucket is not None:
        stmt = stmt.where(f.c.bucket == bucket)
    return int(conn.execute(stmt).scalar_one())


def _policy_topics(conn: sa.Connection, policy_ids: set[str]) -> dict[str, frozenset[str]]:
    from push.outbox import policy_topics

    rows = conn.execute(sa.select(policies).where(policies.c.id.in_(policy_ids))).mappings()
    return {r["id"]: policy_topics(policy_from_row(r, as_utc).policy) for r in rows}


def expand_some(conn: sa.Connection, now: dt.datetime, digest_at: dt.datetime,
                bucket: int | None = None, limit: int = EXPAND_BATCH) -> tuple[int, int, int]:
    """Expand up to ``limit`` unexpanded rows inside ``conn``'s transaction.

    Returns (fan-out rows expanded, notifications inserted, deliveries queued).
    """
    f = push_fanout
    stmt = sa.select(f).where(f.c.expanded_at.is_(None))
    if bucket is not None:
        stmt = stmt.where(f.c.bucket == bucket)
    claimed = conn.execute(stmt.order_by(f.c.id).limit(limit)
                           .with_for_update(skip_locked=True)).mappings().all()
    if not claimed:
        return 0, 0, 0
    n_new = n_del = 0
    topics = _policy_topics(conn, {r["policy_id"] for r in claimed})
    for row in claimed:
        ev = columnar.decode_table(bytes(row["data"])).cast(PLAIN_SCHEMA).to_pandas()
        k = len(ev)
        days = ev["days_left"].astype("Int64")
        rows = list(zip(
            ev["uscc"], [row["policy_id"]] * k, ev["event"], ev["version"].astype(int).tolist(),
            ev["status"], ev["previous_status"],
            pd.to_numeric(ev["amount"], errors="coerce").astype("float64").tolist(),
            ev["unknown"].fillna(""), ev["met"].fillna(""), ev["review"].fillna(""),
            ev["cause"].fillna(""), [None if d is pd.NA else int(d) for d in days],
            [row["valid_until"]] * k, [row["title"]] * k, [row["as_of"]] * k,
            [row["created_at"]] * k,  # the news is as old as its detection
            strict=True,
        ))
        n = push_notifications
        key = ["uscc", "policy_id", "event", "version"]
        if conn.dialect.name == "postgresql":  # concurrent expanders: only our own new ids
            ids = insert_rows(conn, n, NOTIFICATION_COLUMNS, rows, conflict=key,
                              returning="id") or []
        else:  # SQLite: the write lock serialises expanders, ids above the max are ours
            before = conn.execute(sa.select(sa.func.max(n.c.id))).scalar() or 0
            insert_rows(conn, n, NOTIFICATION_COLUMNS, rows, conflict=key)
            ids = list(conn.execute(sa.select(n.c.id).where(n.c.id > before)).scalars())
        n_new += len(ids)
        n_del += _enqueue_deliveries(conn, ids, row["policy_id"],
                                     topics.get(row["policy_id"], frozenset()), now, digest_at)
    conn.execute(sa.update(f).where(f.c.id.in_([r["id"] for r in claimed]))
                 .values(expanded_at=now))
    return len(claimed), n_new, n_del


def _enqueue_deliveries(conn: sa.Connection, ids: list[int], policy_id: str,
                        topics: frozenset[str], now: dt.datetime, digest_at: dt.datetime) -> int:
    """One delivery per (new notification ``ids`` of ``policy_id``, active channel),
    unless muted."""
    if not ids:
        return 0
    n, c, s = push_notifications, push_channels, push_subscriptions
    mine = set(ids)
    rows = [r for r in conn.execute(
        sa.select(n.c.id, n.c.event, c.c.id.label("channel_id"), s.c.digest, s.c.muted_topics)
        .join(c, sa.and_(c.c.uscc == n.c.uscc, c.c.active.is_(True)))
        .join(s, s.c.uscc == n.c.uscc)
        .where(n.c.id >= min(ids), n.c.id <= max(ids), n.c.policy_id == policy_id)
        .order_by(n.c.id, c.c.id)
    ) if r.id in mine]
    out = []
    for r in rows:
        if muted(r.muted_topics or [], r.event, policy_id, topics):
            continue
        daily = r.digest == "daily"
        out.append((r.id, r.channel_id, "pending", daily, digest_at if daily else now, 0, now))
    insert_rows(conn, push_deliveries, DELIVERY_COLUMNS, out,
                conflict=["notification_id", "channel_id"])
    return len(out)


def expand(transaction: Callable[[], Any], clock: Callable[[], dt.datetime],
           digest_at: Callable[[dt.datetime], dt.datetime], bucket: int | None = None,
           max_rounds: int | None = None) -> tuple[int, int, int]:
    """Expand every pending fan-out row (of one bucket), one short transaction per batch.

    ``transaction`` is ``store.transaction``; returns totals as :func:`expand_some`.
    """
    total = np.zeros(3, dtype=np.int64)
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        now = clock()
        with transaction() as conn:
            got = expand_some(conn, now, digest_at(now), bucket)
        if got[0] == 0:
            break
        total += got
        rounds += 1
    return int(total[0]), int(total[1]), int(total[2])


def expand_store(store: Any, bucket: int | None = None, digest_hour: int | None = None) -> int:
    """Expand everything pending in ``store``; returns the notifications inserted."""
    from push.schedule import DEFAULT_DIGEST_HOUR, next_digest_at

    hour = DEFAULT_DIGEST_HOUR if digest_hour is None else digest_hour
    return expand(store.transaction, store.clock, lambda now: next_digest_at(now, hour),
                  bucket)[1]
