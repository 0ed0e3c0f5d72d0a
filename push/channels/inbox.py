"""In-app inbox: every notification of a firm, newest first, with a read mark.

The inbox is the outbox table read by firm: nothing is copied, so a notification is in
the inbox the moment it is expanded from the fan-out outbox, whatever the firm's
channels, mutes and caps are (those limit pushes, not what the firm can look up).
Reading an inbox first expands the pending fan-out rows of the firm's bucket
(:func:`expand_for`), so news committed by detection is there even before a dispatcher
ran.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from push.messages import Facts, why
from push.tables import push_notifications
from store.store import as_utc

MAX_PAGE = 200


class InboxItem(BaseModel):
    """One inbox entry as the API returns it."""

    id: int
    uscc: str
    policy_id: str
    title: str
    event: str
    status: str
    amount: float | None
    why: str
    fields_to_fill: list[str]
    conditions_met: list[str]
    valid_until: dt.date | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class InboxPage(BaseModel):
    items: list[InboxItem]
    unread: int
    total: int
    limit: int
    offset: int




def expand_for(store: Any, uscc: str) -> int:
    """Expand the pending fan-out rows that may hold news for ``uscc`` (its bucket)."""
    from push import fanout
    from push.columnar import bucket_of

    bucket = int(bucket_of([uscc])[0])
    with store.transaction(write=False) as conn:
        if not fanout.pending(conn, bucket):
            return 0
    return fanout.expand_store(store, bucket)


def list_inbox(conn: sa.Connection, uscc: str, *, unread_only: bool = False,
               limit: int = 50, offset: int = 0) -> InboxPage:
    n = push_notifications
    where = [n.c.uscc == uscc]
    if unread_only:
        where.append(n.c.read_at.is_(None))
    rows = conn.execute(sa.select(n).where(*where).order_by(n.c.id.desc())
                        .limit(min(limit, MAX_PAGE)).offset(offset)).mappings().all()
    total = conn.execute(sa.select(sa.func.count()).select_from(n).where(*where)).scalar_one()
    unread = conn.execute(sa.select(sa.func.count()).select_from(n).where(
        n.c.uscc == uscc, n.c.read_at.is_(None))).scalar_one()
    items = []
    for r in rows:
        facts = Facts.from_row(r)
        items.append(InboxItem(
            id=facts.id, uscc=facts.uscc, policy_id=facts.policy_id, title=facts.title,
            event=facts.event, status=facts.status, amount=facts.amount, why=why(facts),
            fields_to_fill=facts.fields_to_fill,
            conditions_met=[s for s in (r["met"] or "").split(" | ") if s],
            valid_until=r["valid_until"], created_at=as_utc(r["created_at"]),  # type: ignore[arg-type]
            read_at=as_utc(r["read_at"]),
        ))
    return InboxPage(items=items, unread=int(unread), total=int(total),
                     limit=min(limit, MAX_PAGE), offset=offset)


def mark_read(conn: sa.Connection, uscc: str, notification_id: int, now: dt.datetime) -> bool:
    """Mark one of the firm's notifications read (idempotent); False if it is not theirs."""
    n = push_notifications
    exists = conn.execute(sa.select(n.c.id, n.c.read_at).where(
        n.c.id == notification_id, n.c.uscc == uscc)).first()
    if exists is None:
        return False
    if exists.read_at is None:
        conn.execute(sa.update(n).where(n.c.id == notification_id).values(read_at=now))
    return True


def mark_all_read(conn: sa.Connection, uscc: str, now: dt.datetime) -> int:
    n = push_notifications
    return int(conn.execute(sa.update(n).where(n.c.uscc == uscc, n.c.read_at.is_(None))
                            .values(read_at=now)).rowcount)
