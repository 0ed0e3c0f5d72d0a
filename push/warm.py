"""Every stored firm, derived and encoded, kept warm in memory between detections.

Why: a newly published policy must be checked against every stored firm, and the
budget (issue #6) is about a second end to end for a million firms. Loading them cold
(``push.firm_table.load_for_policy``: projected columns and an SQL prefilter, then
``derive`` + ``encode``) takes 3.7–4.9 s for the broadest policies (``bench/RESULTS.md``,
push), most of a publish's budget: reading and encoding rows, not evaluating the
policy (milliseconds). The dispatcher loop (``policy-match dispatch --loop``) is
long-lived and holds one ``Detector``, so it can keep one table of all firms, with all
profile columns (any policy can be evaluated over it), and bring it up to date from the
rows that changed, as ``api.match_index`` does:

* a **base** part: all firms, read and encoded once for an evaluation date (``as_of``
  — derived attributes such as ``age_years`` depend on it);
* an **overlay** part: firms whose row revision is newer than the base, re-read whole
  whenever the store's ``firms_revision`` counter moves (simple, and correct even when
  a writer commits between two of our statements: the next call reads them again);
* a ``live`` mask over the base: False for rows the overlay supersedes.

When the counter has not moved, :meth:`WarmFirms.parts` costs one counter read. A new
``as_of`` re-derives the base from the columns it holds (no re-read) and reads the
overlay again. The base is read again when the overlay would exceed ``overlay_limit``
firms, or when the counter is below the base's revision (a store emptied and refilled,
or a transaction whose snapshot predates the base: it gets what it sees).

Measured on 1,000,000 synthetic firms (``bench/synthetic.py``, stored through
``Store.import_firms``), this 2-core machine, SQLite / PostgreSQL:

* cold base: 17.3 s / 13.4 s (reading all columns ~14 s / ~12 s, deriving and
  encoding ~2 s); once per process, and again only after a large import;
* resident memory: +1.7 GB / +1.1 GB RSS after the build. The table itself is ~0.9 GB
  (the frame ~0.6 GB — parsed ``qualifications`` lists are the largest column — the
  kernel's matrices ~0.2 GB, the USCC index 40 MB); the rest is allocator space the row
  read leaves fragmented;
* counter unchanged: ~1 ms; 1,000 changed firms: ~35 ms (one count, the overlay read
  and encoded, the shadow mask); next day: ~2.3 s (re-derive + overlay);
* a broad policy (620,000 firms left by the prefilter): cold ``load_for_policy`` ~2 s
  vs warm parts + ``evaluate_policy`` over all million ~3 ms.

Uncommitted reads: ``parts`` reads inside the caller's transaction, which may have
written firms itself. A revision number that transaction took is handed out again if
it rolls back, so a table built from its view must not outlive it: what a call built
inside a transaction that wrote the firms counter is dropped when that transaction
rolls back (a connection ``rollback`` event). Transactions that did not write it (every
detection unit, a read-only connection closed without commit) saw committed rows only:
their rollback drops nothing.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from matcher.encode import FirmColumns
from matcher.fields import PROFILE_FIELDS
from push.firm_table import encoded, read_firms
from store.schema import firms, store_state

FIRMS_COUNTER = "firms_revision"  # store_state key bumped by every firm write


@dataclass(frozen=True)
class WarmPart:
    """Some stored firms, derived and encoded for one ``as_of``.

    ``live`` (bool per row of ``firms``, in its sorted order) is False for rows a newer
    part supersedes; None means every row is live. Arrays are read-only: they are
    shared by every caller until the next refresh.
    """

    firms: FirmColumns
    live: np.ndarray | None


def _counter(conn: sa.Connection) -> int:
    value = conn.execute(sa.select(store_state.c.value)
                         .where(store_state.c.key == FIRMS_COUNTER)).scalar()
    return int(value or 0)


def _wrote_counter(conn: sa.Connection, counter: int) -> bool:
    """Whether ``conn``'s transaction itself wrote the firms counter (uncommitted).

    PostgreSQL: the visible counter row was written by this transaction's id. SQLite:
    the committed counter, read through a separate read-only connection (WAL readers
    never wait for the writer), is below what this transaction sees. When unsure
    (an in-memory database, any error), True: the caller then keeps only what a
    commit confirms.
    """
    if not conn.in_transaction():
        return False
    if conn.dialect.name == "postgresql":
        mine = conn.execute(sa.text(
            "SELECT xmin::text::bigint = pg_current_xact_id_if_assigned()::text::bigint"
            " % 4294967296 FROM store_state WHERE key = :key"), {"key": FIRMS_COUNTER}).scalar()
        return bool(mine)  # NULL: this transaction has written nothing at all
    database = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return True
    try:
        raw = sqlite3.connect(Path(database).resolve().as_uri() + "?mode=ro", uri=True,
                              timeout=0.5)
    except sqlite3.Error:
        return True
    try:
        row = raw.execute("SELECT value FROM store_state WHERE key = ?",
                          (FIRMS_COUNTER,)).fetchone()
    except sqlite3.Error:
        return True
    finally:
        raw.close()
    return counter > int(row[0] if row and row[0] is not None else 0)


def _frozen(mask: np.ndarray) -> np.ndarray:
    mask.flags.writeable = False
    return mask


class WarmFirms:
    """All stored firms encoded for one date: a base part plus an overlay of changes.

    One instance per store, shared by threads (API workers): the state is guarded by a
    lock, held while a part is rebuilt so that two threads never read the same rows
    twice. ``reads`` counts firm rows read from the store (tests and benchmarks use it
    to see that an unchanged store costs no re-read); ``base_builds`` and
    ``overlay_builds`` count rebuilds.
    """

    def __init__(self, overlay_limit: int = 10_000) -> None:
        self.overlay_limit = overlay_limit
        self.reads = 0
        self.base_builds = 0
        self.overlay_builds = 0
        self._lock = threading.Lock()
        # Which base and which overlay are current (never reset): a rollback undoes
        # only what its transaction built and nothing has replaced since.
        self._base_generation = 0
        self._overlay_generation = 0
        self._rolled_back: list[tuple[int, int | None]] = []  # (base, overlay or None)
        self._reset()

    def _reset(self) -> None:
        self._as_of: dt.date | None = None
        self._base: FirmColumns | None = None
        self._base_revision: int | None = None
        self._base_index: pd.Index | None = None
        self._overlay_revision: int | None = None  # counter value the parts reflect
        self._parts: list[WarmPart] = []
        self._base_generation += 1

    @property
    def revision(self) -> int | None:
        """The firms revision the base reflects (None: nothing built)."""
        return self._base_revision

    def clear(self) -> None:
        """Forget everything (the next call rebuilds the base)."""
        with self._lock:
            self._reset()

    def parts(self, conn: sa.Connection, as_of: dt.date) -> list[WarmPart]:
        """Every stored firm, derived and encoded for ``as_of``, as of what ``conn``'s
        transaction sees. Base part first, then the overlay part (firms with revision >
        base revision) if any; base rows superseded by the overlay have live False."""
        with self._lock:
            # Read under the lock: a counter read before waiting for another thread's
            # build could be older than that build and force a needless rebuild.
            counter = _counter(conn)
            self._forget_rolled_back()
            if (self._base is None or self._base_revision is None
                    or counter < self._base_revision):
                self._build_base(conn, as_of, counter)
            elif self._as_of != as_of:
                self._redate_base(conn, as_of, counter)
            elif counter != self._overlay_revision:
                self._build_overlay(conn, counter)
            return list(self._parts)

    # ---------------------------------------------------------------- building
    def _read(self, conn: sa.Connection, where: list[sa.ColumnElement[bool]]) -> pd.DataFrame:
        frame = read_firms(conn, PROFILE_FIELDS, where)
        self.reads += len(frame)
        return frame

    def _build_base(self, conn: sa.Connection, as_of: dt.date, counter: int) -> None:
        # Drop the old table first: a million firms held twice would double the peak.
        self._reset()
        # The counter was read before the rows: rows newer than it that this read
        # happens to see are read again into the overlay next time, never missed.
        self._install(encoded(self._read(conn, []), as_of), as_of, counter)
        self._watch(conn, counter, rebuilt_base=True)

    def _redate_base(self, conn: sa.Connection, as_of: dt.date, counter: int) -> None:
        """The same base rows derived for another date, without reading them again.

        Why: the date moves every day in a long-lived process, and reading every firm
        costs ~14 s of the ~17 s of a cold base on SQLite (1M firms), encoding ~2 s. The
        base frame still holds every stored column as read; rows changed since are in
        the overlay, which is read again for the new date.
        """
        old, revision = self._base, self._base_revision
        assert old is not None and revision is not None
        self._reset()
        self._install(encoded(old.frame[list(PROFILE_FIELDS)], as_of), as_of, revision)
        del old
        self._watch(conn, counter, rebuilt_base=True)
        if counter != revision:
            self._build_overlay(conn, counter)

    def _install(self, base: FirmColumns, as_of: dt.date, revision: int) -> None:
        self._as_of, self._base, self._base_revision = as_of, base, revision
        # USCC -> base row, for the shadow mask. An object index hashes the USCC strings
        # the table already holds (+40 MB for a million; the inferred ``str`` dtype would
        # copy them into Arrow and back, +114 MB); the hash table is built here, once
        # per base (~0.2 s), not on the first refresh.
        self._base_index = pd.Index(base.uscc, dtype=object)
        self._base_index.get_indexer(base.uscc[:1])
        self._overlay_revision = revision
        self._parts = [WarmPart(base, None)]
        self.base_builds += 1

    def _build_overlay(self, conn: sa.Connection, counter: int) -> None:
        assert self._base is not None and self._base_index is not None
        newer = firms.c.revision > self._base_revision
        pending = conn.execute(sa.select(sa.func.count()).select_from(firms)
                               .where(newer)).scalar_one()
        if pending > self.overlay_limit:
            self._build_base(conn, self._as_of, counter)  # type: ignore[arg-type]
            return
        frame = self._read(conn, [newer])
        parts = [self._parts[0]]
        if len(frame):
            overlay = encoded(frame, self._as_of)  # type: ignore[arg-type]
            hit = self._base_index.get_indexer(overlay.uscc)
            live = np.ones(self._base.n, dtype=bool)
            live[hit[hit >= 0]] = False
            parts = [WarmPart(self._base, _frozen(live)), WarmPart(overlay, None)]
        self._parts = parts
        self._overlay_revision = counter
        self._overlay_generation += 1
        self.overlay_builds += 1
        self._watch(conn, counter, rebuilt_base=False)

    # ---------------------------------------------------------------- rollbacks
    def _watch(self, conn: sa.Connection, counter: int, rebuilt_base: bool) -> None:
        """Undo what this call built if ``conn``'s transaction wrote firms and rolls back.

        After such a rollback the same revision number is handed to another write, so a
        table built from the rolled-back view would be taken for current. On commit it
        stands. The event only leaves a note (no lock taken inside another
        transaction's rollback); the next call acts on it.
        """
        if not _wrote_counter(conn, counter):
            return  # only committed rows were read: nothing to undo, ever
        note = (self._base_generation, None if rebuilt_base else self._overlay_generation)
        settled = False

        def on_commit(_conn: sa.Connection) -> None:
            nonlocal settled
            settled = True

        def on_rollback(_conn: sa.Connection) -> None:
            nonlocal settled
            if not settled:
                settled = True
                self._rolled_back.append(note)  # list.append is atomic

        sa.event.listen(conn, "commit", on_commit, once=True)
        sa.event.listen(conn, "rollback", on_rollback, once=True)

    def _forget_rolled_back(self) -> None:
        """Drop state built inside transactions that rolled back since (under the lock)."""
        while self._rolled_back:
            base, overlay = self._rolled_back.pop()
            if base != self._base_generation:
                continue  # replaced since: nothing of that transaction is kept
            if overlay is None:
                self._reset()
            elif overlay == self._overlay_generation:
                # Only the overlay came from the rolled-back view: read it again.
                self._overlay_revision = None
                self._overlay_generation += 1
