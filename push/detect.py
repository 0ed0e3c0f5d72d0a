"""Detection: turn what changed in the store into notifications, exactly once.

The store bumps a revision counter on every write to firms and policies and stamps the
rows with it. Detection keeps its own watermarks (``push_state``) and works through
what is newer, one unit per transaction:

* **a changed policy** (published, revised or withdrawn): that one policy is evaluated
  over the firms it can match (``push.firm_table``: projected columns, SQL prefilter)
  and diffed against its stored snapshots;
* **changed firms** (an import chunk, an API update): every published policy is
  evaluated for them and diffed against their snapshots;
* **once a day**: deadline reminders, and policies whose window opened.

Each unit locks out other detections (an advisory lock on PostgreSQL; SQLite's write
lock), reads the watermark inside its transaction, writes snapshots, notifications and
deliveries (``push.outbox``) and advances the watermark in the same transaction. A crash
mid-unit rolls all of it back and the unit is redone; a rerun finds nothing newer.

A policy published through the CLI or the API is detected inside its own transaction
(``push.listeners``); firm changes, and whatever a crash or a limit left behind, are
picked up by :func:`detect_pending`, which ``policy-match dispatch`` runs before every
delivery round. :func:`on_policies_published` / :func:`on_firms_changed` let any other
writer (a batch job) run a pass right after its commit; nothing depends on them being
called.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from matcher.changes import evaluate_policies, evaluate_policy, matched_codes
from matcher.coded import MatchCodes, concat
from matcher.eligibility import Evaluation
from matcher.logic import FALSE
from matcher.policy import Policy
from profiles.reference import size_standard
from push.firm_table import encoded, load_for_policy, needed_fields, read_firms
from push.outbox import OutboxCounts, diff, load_snapshots, write_changes
from push.schedule import DEFAULT_DIGEST_HOUR
from push.snapshots import Loaded
from push.tables import push_state
from push.warm import WarmFirms, WarmPart
from store.policy_rows import policy_from_row
from store.schema import firms, policies, store_state
from store.store import as_utc

DETECT_LOCK_ID = 724_100_602  # PostgreSQL advisory lock shared by every detecting process
FIRMS_MARK = "firms_revision"
POLICIES_MARK = "policies_revision"
SWEPT_MARK = "swept_on"  # proleptic ordinal of the last as_of swept for deadlines


@dataclass(frozen=True)
class DetectSettings:
    """How eager detection is.

    ``k_missing``: an undetermined verdict is news only with at most this many open
    items. ``deadline_days``: remind matched firms this many days before ``valid_until``.
    ``firm_chunk``: changed firms re-evaluated per transaction. ``digest_hour``: local
    hour (China time) at which daily digests are due.
    """

    k_missing: int = 2
    deadline_days: int = 14
    firm_chunk: int = 50_000
    digest_hour: int = DEFAULT_DIGEST_HOUR


@dataclass
class DetectReport:
    """What a detection pass did, with per-phase seconds (for the benchmark)."""

    policies: list[str] = field(default_factory=list)
    firms: int = 0  # firms re-evaluated because they changed
    firms_loaded: int = 0  # firms read to evaluate changed policies (after the prefilter)
    swept: bool = False
    counts: OutboxCounts = field(default_factory=OutboxCounts)
    seconds: dict[str, float] = field(default_factory=dict)

    def time(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds




def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({DETECT_LOCK_ID})")


def _mark(conn: sa.Connection, key: str) -> int:
    value = conn.execute(sa.select(push_state.c.value).where(push_state.c.key == key)).scalar()
    return int(value or 0)


def _set_mark(conn: sa.Connection, key: str, value: int) -> None:
    done = conn.execute(sa.update(push_state).where(push_state.c.key == key)
                        .values(value=value)).rowcount
    if not done:
        conn.execute(sa.insert(push_state).values(key=key, value=value))


def _store_counter(conn: sa.Connection, key: str) -> int:
    value = conn.execute(sa.select(store_state.c.value).where(store_state.c.key == key)).scalar()
    return int(value or 0)


def published_policies(conn: sa.Connection, cache: PolicyCache | None = None) -> list[Policy]:
    """Published policies by id (parsed through ``cache`` when given)."""
    if cache is not None:
        return cache.published(conn)
    rows = conn.execute(sa.select(policies).where(policies.c.state == "published")
                        .order_by(policies.c.id)).mappings().all()
    return [policy_from_row(r, as_utc).policy for r in rows]


class PolicyCache:
    """Parsed published policies, reused while their rows are unchanged.

    Why: parsing ~200 policy documents took a third of a ``PUT /firms`` with in-transaction
    detection (~25 ms of ~90). Each call still reads the published rows' keys inside the
    caller's transaction, so it sees exactly what that transaction sees; only rows whose
    (id, revision, version, content hash, title, updated_at) is new are fetched and parsed.
    """

    _KEY = ("id", "revision", "version", "content_hash", "title", "updated_at")

    def __init__(self) -> None:
        self._parsed: dict[tuple[Any, ...], Policy] = {}
        self._guard = threading.Lock()  # API worker threads share one listener

    def published(self, conn: sa.Connection) -> list[Policy]:
        cols = [policies.c[k] for k in self._KEY]
        keys = [tuple(r) for r in conn.execute(
            sa.select(*cols).where(policies.c.state == "published").order_by(policies.c.id))]
        with self._guard:
            known = dict(self._parsed)
        missing = [k[0] for k in keys if k not in known]
        if missing:
            for r in conn.execute(sa.select(policies)
                                  .where(policies.c.id.in_(missing))).mappings():
                known[tuple(r[k] for k in self._KEY)] = policy_from_row(r, as_utc).policy
        out = [known[k] for k in keys]
        with self._guard:
            self._parsed = {k: known[k] for k in keys}
        return out


def _expired(policy: Policy, as_of: dt.date) -> bool:
    return policy.valid_until is not None and policy.valid_until < as_of


def live_policies(conn: sa.Connection, as_of: dt.date,
                  cache: PolicyCache | None = None) -> list[Policy]:
    """Published policies whose window has not closed on ``as_of``.

    Re-evaluating a firm against an expired policy would only produce "no longer
    eligible" for every firm it once matched — noise, not news.
    """
    return [p for p in published_policies(conn, cache) if not _expired(p, as_of)]


def live_codes(ev: Evaluation, live: np.ndarray | None, k_missing: int) -> MatchCodes:
    """``matched_codes`` of an evaluation over a warm part, without the rows a newer part
    supersedes."""
    if live is not None:
        ev.status[:, ~live] = FALSE
    return matched_codes(ev, k_missing)


class Detector:
    """Runs detection units against one store (see the module docstring).

    ``warm``: a ``push.warm.WarmFirms`` kept by a long-lived detecting process (the
    dispatcher loop). A changed policy is then evaluated over the warm table — all firms,
    already derived and encoded, refreshed from changed rows — instead of loading its
    candidate firms from the store (seconds for a policy open to most of a million
    firms). Without it (a one-shot command), each policy unit loads what it needs.
    """

    def __init__(self, store: Any, settings: DetectSettings | None = None,
                 warm: WarmFirms | None = None) -> None:
        self.store = store
        self.settings = settings or DetectSettings()
        self.policy_cache = PolicyCache()
        self.warm = warm

    def warm_up(self, as_of: dt.date) -> None:
        """Build the warm firm table now (~15 s for a million firms, better
        spent when the dispatcher starts than inside the first publish's detection)."""
        if self.warm is not None:
            with self.store.transaction(write=False) as conn:
                self.warm.parts(conn, as_of)

    # -- the diff and the write, shared by every unit --------------------------------
    def _diff_and_write(self, conn: sa.Connection, prev: Loaded, cur: MatchCodes,
                        scope: Sequence[Policy], as_of: dt.date, report: DetectReport,
                        withdrawn: Iterable[str] = (), unique: bool = False) -> OutboxCounts:
        t0 = time.perf_counter()
        s = self.settings
        d = diff(prev.matches, cur, as_of, k_missing=s.k_missing,
                 deadline_days=s.deadline_days,
                 valid_until={p.id: p.valid_until for p in scope},
                 withdrawn=list(withdrawn), unique=unique)
        t1 = time.perf_counter()
        now = self.store.clock()
        counts = write_changes(conn, prev, d, {p.id: p for p in scope}, as_of, now)
        report.time("diff", t1 - t0)
        report.time("enqueue", time.perf_counter() - t1)
        report.counts.add(counts)
        return counts

    # -- units --------------------------------------------------------------------------
    def policy_unit(self, conn: sa.Connection, row: Any, as_of: dt.date,
                    report: DetectReport) -> None:
        """Re-evaluate one changed policy over the firms it can match."""
        prow = policy_from_row(row, as_utc)
        policy = prow.policy
        t0 = time.perf_counter()
        prev = load_snapshots(conn, [policy.id])
        report.time("load_snapshots", time.perf_counter() - t0)
        if prow.state == "published" and _expired(policy, as_of):
            # A closed window is not news (the deadline reminder was): leave its snapshots.
            report.policies.append(policy.id)
            return
        if prow.state == "published":
            t0 = time.perf_counter()
            parts = (self.warm.parts(conn, as_of) if self.warm is not None
                     else [WarmPart(load_for_policy(conn, policy, as_of), None)])
            report.time("load_firms", time.perf_counter() - t0)
            found = []
            for part in parts:
                t1 = time.perf_counter()
                ev = evaluate_policy(part.firms, policy, as_of, size_standard())
                t2 = time.perf_counter()
                found.append(live_codes(ev, part.live, self.settings.k_missing))
                report.time("filter", t2 - t1)
                report.time("explain", time.perf_counter() - t2)
                report.firms_loaded += part.firms.n
            cur = concat(found)
            withdrawn: list[str] = []
        elif prow.state == "withdrawn":
            cur, withdrawn = MatchCodes.empty(), [policy.id]
        else:
            return
        # One evaluation over a table keyed by USCC: one row per firm.
        self._diff_and_write(conn, prev, cur, [policy], as_of, report, withdrawn, unique=True)
        report.policies.append(policy.id)

    def firm_unit(self, conn: sa.Connection, lo: int, hi: int, scope: Sequence[Policy],
                  as_of: dt.date, report: DetectReport) -> None:
        """Re-evaluate firms with ``lo < revision <= hi`` against ``scope``."""
        if not scope:
            return
        t0 = time.perf_counter()
        frame = read_firms(conn, needed_fields(scope),
                           [firms.c.revision > lo, firms.c.revision <= hi])
        firm_table = encoded(frame, as_of)
        t1 = time.perf_counter()
        ev = evaluate_policies(firm_table, scope, as_of, size_standard())
        t2 = time.perf_counter()
        cur = matched_codes(ev, self.settings.k_missing)
        t3 = time.perf_counter()
        usccs = [str(u) for u in frame["uscc"]]
        prev = load_snapshots(conn, [p.id for p in scope], usccs)
        report.time("load_firms", t1 - t0)
        report.time("filter", t2 - t1)
        report.time("explain", t3 - t2)
        report.time("load_snapshots", time.perf_counter() - t3)
        report.firms += firm_table.n
        self._diff_and_write(conn, prev, cur, scope, as_of, report)

    def deadline_unit(self, conn: sa.Connection, as_of: dt.date, report: DetectReport) -> None:
        """Remind matched firms of policies whose window closes within ``deadline_days``."""
        last = as_of + dt.timedelta(days=self.settings.deadline_days)
        scope = [p for p in published_policies(conn)
                 if p.valid_until is not None and as_of <= p.valid_until <= last]
        if not scope:
            return
        prev = load_snapshots(conn, [p.id for p in scope],
                              statuses=["eligible", "undetermined"])
        cur = replace(prev.matches, version=None, told=None)
        self._diff_and_write(conn, prev, cur, scope, as_of, report)

    # -- the pass -------------------------------------------------------------------
    def detect_pending(self, as_of: dt.date) -> DetectReport:
        """Work through every change newer than the watermarks, then the daily sweep."""
        report = DetectReport()
        started = time.perf_counter()
        seen: dict[str, int] = {}  # policy id -> firms revision its evaluation covered
        while True:
            with self.store.transaction() as conn:
                _lock(conn)
                mark = _mark(conn, POLICIES_MARK)
                row = conn.execute(sa.select(policies).where(policies.c.revision > mark)
                                   .order_by(policies.c.revision).limit(1)).mappings().first()
                if row is None:
                    break
                covered = _store_counter(conn, FIRMS_MARK)
                self.policy_unit(conn, row, as_of, report)
                _set_mark(conn, POLICIES_MARK, int(row["revision"]))
            seen[row["id"]] = covered
        while True:
            with self.store.transaction() as conn:
                _lock(conn)
                mark = _mark(conn, FIRMS_MARK)
                hi = self._next_chunk(conn, mark)
                if hi is None:
                    break
                # A policy evaluated over all firms above already saw these firm rows.
                scope = [p for p in live_policies(conn, as_of, self.policy_cache)
                         if not (p.id in seen and hi <= seen[p.id])]
                self.firm_unit(conn, mark, hi, scope, as_of, report)
                _set_mark(conn, FIRMS_MARK, hi)
        self._sweep(as_of, report)
        report.time("total", time.perf_counter() - started)
        return report

    def _next_chunk(self, conn: sa.Connection, mark: int) -> int | None:
        """The highest firm revision such that (mark, hi] holds about ``firm_chunk`` firms."""
        if mark >= 0 and _store_counter(conn, FIRMS_MARK) <= mark:
            return None  # the store's counter says nothing is newer: no scan of firms
        rows = conn.execute(
            sa.select(firms.c.revision, sa.func.count()).where(firms.c.revision > mark)
            .group_by(firms.c.revision).order_by(firms.c.revision)
        ).all()
        if not rows:
            return None
        total, hi = 0, None
        for revision, n in rows:
            if hi is not None and total + n > self.settings.firm_chunk:
                break
            total += n
            hi = int(revision)
        return hi

    def _sweep(self, as_of: dt.date, report: DetectReport) -> None:
        """Once per as_of date: policies whose window just opened, and deadline reminders."""
        today = as_of.toordinal()
        with self.store.transaction() as conn:
            _lock(conn)
            last = _mark(conn, SWEPT_MARK)
            if last >= today:
                return
            if last:
                since = dt.date.fromordinal(last)
                rows = conn.execute(sa.select(policies).where(
                    policies.c.state == "published", policies.c.valid_from > since,
                    policies.c.valid_from <= as_of)).mappings().all()
                for row in rows:
                    self.policy_unit(conn, row, as_of, report)
            self.deadline_unit(conn, as_of, report)
            _set_mark(conn, SWEPT_MARK, today)
            report.swept = True

    def reevaluate_all(self, as_of: dt.date) -> DetectReport:
        """Every published policy for every firm, diffed and enqueued (the slow baseline).

        Watermarks are left alone: this is a consistency sweep, not a replacement for
        :meth:`detect_pending`.
        """
        report = DetectReport()
        started = time.perf_counter()
        mark = -1
        while True:
            with self.store.transaction() as conn:
                _lock(conn)
                hi = self._next_chunk(conn, mark)
                if hi is None:
                    break
                self.firm_unit(conn, mark, hi, live_policies(conn, as_of, self.policy_cache),
                               as_of, report)
            mark = hi
        report.time("total", time.perf_counter() - started)
        return report


def detect_pending(store: Any, as_of: dt.date,
                   settings: DetectSettings | None = None) -> DetectReport:
    """Process every pending change of ``store`` for ``as_of`` (see :class:`Detector`)."""
    return Detector(store, settings).detect_pending(as_of)


def on_policies_published(store: Any, policy_ids: Sequence[str], as_of: dt.date,
                          settings: DetectSettings | None = None) -> DetectReport:
    """Call after committing a publish (or withdraw, or revision) of ``policy_ids``.

    The policies are found through the store's revision counter, so this is
    :func:`detect_pending`; the ids say what the caller expects to be covered.
    """
    return detect_pending(store, as_of, settings)


def on_firms_changed(store: Any, usccs: Sequence[str], as_of: dt.date,
                     settings: DetectSettings | None = None) -> DetectReport:
    """Call after committing changes to the profiles of ``usccs`` (see above)."""
    return detect_pending(store, as_of, settings)
