"""The one interface to persistent data, the same for SQLite and PostgreSQL.

Every write happens in a transaction that also records who did it (the audit log) and
bumps a revision counter, so readers that cache (the API's warm matcher) can tell what
changed. Bulk imports commit chunk by chunk: a failure part-way leaves every committed
chunk whole, the failed chunk absent, and the import marked ``failed``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, overload

import pandas as pd
import sqlalchemy as sa

from matcher.errors import PolicyMatchError, RecordError
from matcher.policy import Policy
from store import keys as keymod
from store.bulk import write_firm_rows
from store.engine import create_engine
from store.events import Listener, Listeners
from store.firm_rows import frame_from_rows, record_to_row, row_to_record
from store.migrate import upgrade
from store.policy_rows import TRANSITIONS, PolicyRow, policy_columns, policy_from_row
from store.schema import (
    RUN_STATES,
    api_keys,
    audit_log,
    firms,
    imports,
    match_results,
    policies,
    runs,
    store_state,
)
from store.url import database_url, redacted

DEFAULT_CHUNK_SIZE = 10_000
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class NotFound(PolicyMatchError):
    """The named firm, policy, run or key is not in the store."""


class Conflict(PolicyMatchError):
    """The change is not allowed in the record's current state (e.g. withdraw a draft)."""


@dataclass(frozen=True)
class StoredFirm:
    """A firm's contract record plus when its data is from and when it arrived."""

    record: dict[str, Any]
    as_of: dt.datetime
    imported_at: dt.datetime
    import_id: int | None
    revision: int

    @property
    def uscc(self) -> str:
        return str(self.record["uscc"])


@dataclass
class ImportReport:
    """What an import wrote and what it skipped (each skip names record and field)."""

    import_id: int
    written: int = 0
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordError] = field(default_factory=list)
    state: str = "running"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunRow:
    id: str
    kind: str
    state: str
    as_of: dt.date
    params: dict[str, Any]
    counts: dict[str, Any]
    created_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None


class Store:
    """Firms, policies, runs and verdicts, API keys and the audit log in one database.

    Parameters
    ----------
    url
        SQLAlchemy-style URL; ``None`` reads ``POLICY_MATCH_DATABASE_URL`` and falls back
        to ``sqlite:///policy_match.db`` in the working directory.
    clock
        Source of "now" for timestamps (tests pass a fixed one); never used for ``as_of``
        logic, which callers pass in.
    migrate
        Bring the schema to the newest revision on open (every command does).
    """

    def __init__(self, url: str | None = None, *, clock: Clock = utc_now,
                 migrate: bool = True) -> None:
        self.url = database_url(url)
        self.clock = clock
        self.engine = create_engine(self.url)
        self.listeners = Listeners()
        if migrate:
            try:
                upgrade(self.engine)
            except sa.exc.OperationalError as e:
                raise PolicyMatchError(
                    f"cannot open the store at {redacted(self.url)}: {e.orig}"
                ) from None

    # ------------------------------------------------------------------ plumbing
    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sa.Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(write=True)
            with conn.begin():
                yield conn

    def listen(self, event: str, fn: Listener) -> None:
        """Call ``fn(conn, payload)`` inside every transaction that emits ``event``."""
        self.listeners.add(event, fn)

    def _bump(self, conn: sa.Connection, key: str) -> int:
        value = conn.execute(
            sa.update(store_state)
            .where(store_state.c.key == key)
            .values(value=store_state.c.value + 1)
            .returning(store_state.c.value)
        ).scalar_one()
        return int(value)

    def revision(self, key: str) -> int:
        """Current value of a counter: ``firms_revision``, ``policies_revision``,
        ``published_revision`` (bumped whenever the set of published policies changes)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(store_state.c.value).where(store_state.c.key == key)
            ).scalar_one_or_none()
        if value is None:
            raise NotFound(f"no store counter {key!r}")
        return int(value)

    def _audit(self, conn: sa.Connection, actor: str, action: str, target: str,
               detail: dict[str, Any] | None = None) -> None:
        conn.execute(sa.insert(audit_log).values(
            at=self.clock(), actor=actor, action=action, target=target, detail=detail or {},
        ))

    # ------------------------------------------------------------------ firms
    def import_firms(
        self,
        records: Iterable[tuple[str, dict[str, Any]] | RecordError],
        *,
        source: str,
        actor: str,
        as_of: dt.datetime | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        warnings: Sequence[RecordError] = (),
        on_chunk: Callable[[int], object] | None = None,
    ) -> ImportReport:
        """Upsert validated profile records chunk by chunk, one transaction per chunk.

        ``records`` yields ``(where, record)`` pairs of normalised contract records
        (``profiles.read.normalize_profile``) or the :class:`RecordError` of a skipped one,
        which is collected, not fatal. A
        USCC seen twice in one import is an error on the second record (the first wins,
        as in ``read_profiles``). If writing a chunk fails, that chunk is rolled back,
        the import is marked ``failed`` and a :class:`PolicyMatchError` is raised.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        started = self.clock()
        data_as_of = as_of or started
        with self.transaction() as conn:
            import_id = int(conn.execute(sa.insert(imports).values(
                kind="profiles", source=source, as_of=data_as_of, started_at=started,
                state="running", actor=actor,
            ).returning(imports.c.id)).scalar_one())
        report = ImportReport(import_id=import_id, warnings=list(warnings))
        seen: set[str] = set()
        chunk: list[dict[str, Any]] = []
        try:
            for item in records:
                if isinstance(item, RecordError):
                    report.errors.append(item)
                    continue
                where, record = item
                uscc = record["uscc"]
                if uscc in seen:
                    report.errors.append(RecordError(
                        where, "uscc", f"duplicate {uscc} in this import (the first is kept)"))
                    continue
                seen.add(uscc)
                chunk.append(record)
                if len(chunk) >= chunk_size:
                    report.written += self._write_firm_chunk(chunk, import_id, data_as_of,
                                                             actor)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                    chunk = []
            if chunk:
                report.written += self._write_firm_chunk(chunk, import_id, data_as_of, actor)
                if on_chunk is not None:
                    on_chunk(len(chunk))
        except Exception as e:
            report.state = "failed"
            self._finish_import(report, error=f"{type(e).__name__}: {e}")
            if isinstance(e, PolicyMatchError):
                raise
            raise PolicyMatchError(
                f"import {import_id} of {source} failed after {report.written} firms "
                f"(those are stored; the failing chunk was rolled back): {e}"
            ) from e
        report.state = "done"
        self._finish_import(report)
        return report

    def _write_firm_chunk(self, chunk: list[dict[str, Any]], import_id: int,
                          data_as_of: dt.datetime, actor: str) -> int:
        now = self.clock()
        with self.transaction() as conn:
            rev = self._bump(conn, "firms_revision")
            rows = []
            for rec in chunk:
                row = record_to_row(rec)
                row.update(as_of=data_as_of, imported_at=now, import_id=import_id,
                           revision=rev)
                rows.append(row)
            write_firm_rows(conn, rows)
            self.listeners.emit(conn, "firms.changed", [r["uscc"] for r in rows])
        return len(chunk)

    def _finish_import(self, report: ImportReport, error: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(sa.update(imports).where(imports.c.id == report.import_id).values(
                state=report.state, finished_at=self.clock(), n_records=report.written,
                n_errors=len(report.errors), error=error,
            ))
            row = conn.execute(sa.select(imports.c.source, imports.c.actor).where(
                imports.c.id == report.import_id)).one()
            self._audit(conn, row.actor, "firms.import", f"import:{report.import_id}", {
                "source": row.source, "state": report.state, "written": report.written,
                "errors": len(report.errors), **({"error": error} if error else {}),
            })

    def put_firm(self, record: dict[str, Any], *, actor: str,
                 as_of: dt.datetime | None = None) -> tuple[StoredFirm, bool]:
        """Create or replace one firm's profile; (stored firm, created?)."""
        now = self.clock()
        with self.transaction() as conn:
            existed = conn.execute(
                sa.select(firms.c.uscc).where(firms.c.uscc == record["uscc"])
            ).first() is not None
            rev = self._bump(conn, "firms_revision")
            row = record_to_row(record)
            row.update(as_of=as_of or now, imported_at=now, import_id=None, revision=rev)
            write_firm_rows(conn, [row])
            self._audit(conn, actor, "firm.update" if existed else "firm.create",
                        f"firm:{record['uscc']}", {"revision": rev})
            self.listeners.emit(conn, "firms.changed", [record["uscc"]])
        stored = self.firm(record["uscc"])
        assert stored is not None
        return stored, not existed

    def firm(self, uscc: str) -> StoredFirm | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(firms).where(firms.c.uscc == uscc)).mappings().first()
        return None if row is None else _stored_firm(row)

    def count_firms(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(firms)).scalar_one())

    def firms_frame(self, since_revision: int | None = None,
                    batch: int = 50_000) -> tuple[pd.DataFrame, int]:
        """All stored profiles (or those changed after ``since_revision``) as a typed frame
        with the dtypes of ``profiles_frame``, sorted by USCC, plus the revision it reflects.
        """
        with self.transaction(write=False) as conn:
            revision = int(conn.execute(sa.select(store_state.c.value).where(
                store_state.c.key == "firms_revision")).scalar_one())
            stmt = sa.select(*[firms.c[c] for c in _PROFILE_COLUMNS]).order_by(firms.c.uscc)
            if since_revision is not None:
                stmt = stmt.where(firms.c.revision > since_revision)
            columns: dict[str, list[Any]] = {c: [] for c in _PROFILE_COLUMNS}
            n = 0
            result = conn.execution_options(yield_per=batch).execute(stmt)
            for part in result.partitions():
                for name, values in zip(_PROFILE_COLUMNS, zip(*part, strict=True), strict=True):
                    columns[name].extend(values)
                n += len(part)
        return frame_from_rows(columns, n), revision

    # ------------------------------------------------------------------ policies
    def put_policy(self, policy: Policy, *, actor: str, publish: bool = False) -> PolicyRow:
        """Create a policy as a draft, or replace its document; ``publish`` publishes it too.

        A withdrawn policy's document can only change by publishing it again.
        """
        with self.transaction() as conn:
            self._put_policy(conn, policy, actor, publish)
        row = self.policy(policy.id)
        assert row is not None
        return row

    def import_policies(self, items: Sequence[Policy], *, actor: str, source: str,
                        publish: bool = False) -> dict[str, int]:
        """All policies of a file in one transaction (a bad tree refuses the file before)."""
        counts = {"created": 0, "updated": 0, "unchanged": 0, "published": 0}
        now = self.clock()
        with self.transaction() as conn:
            import_id = int(conn.execute(sa.insert(imports).values(
                kind="policies", source=source, as_of=now, started_at=now, state="running",
                actor=actor,
            ).returning(imports.c.id)).scalar_one())
            for policy in items:
                outcome, published = self._put_policy(conn, policy, actor, publish)
                counts[outcome] += 1
                counts["published"] += int(published)
            conn.execute(sa.update(imports).where(imports.c.id == import_id).values(
                state="done", finished_at=self.clock(), n_records=len(items)))
            self._audit(conn, actor, "policies.import", f"import:{import_id}",
                        {"source": source, **counts})
        return counts

    def _put_policy(self, conn: sa.Connection, policy: Policy, actor: str,
                    publish: bool) -> tuple[str, bool]:
        now = self.clock()
        cols = policy_columns(policy)
        old = conn.execute(sa.select(policies).where(policies.c.id == policy.id)).mappings().first()
        target = f"policy:{policy.id}"
        if old is None:
            rev = self._bump(conn, "policies_revision")
            conn.execute(sa.insert(policies).values(
                **cols, state="draft", version=1, created_at=now, updated_at=now,
                revision=rev,
            ))
            self._audit(conn, actor, "policy.create", target,
                        {"content_hash": cols["content_hash"]})
            self.listeners.emit(conn, "policies.created", [policy.id])
            outcome, state = "created", "draft"
        else:
            state = old["state"]
            same = (old["document"] == _roundtrip(cols["document"]) and old["text"] == cols["text"])
            if same:
                outcome = "unchanged"
            else:
                if state == "withdrawn" and not publish:
                    raise Conflict(f"policy {policy.id!r} is withdrawn; publish it to change it")
                rev = self._bump(conn, "policies_revision")
                conn.execute(sa.update(policies).where(policies.c.id == policy.id).values(
                    **cols, version=old["version"] + 1, updated_at=now, revision=rev))
                self._audit(conn, actor, "policy.update", target, {
                    "version": old["version"] + 1,
                    "content_hash": cols["content_hash"],
                    "previous_content_hash": old["content_hash"],
                })
                if state == "published" and cols["content_hash"] != old["content_hash"]:
                    self._bump(conn, "published_revision")
                self.listeners.emit(conn, "policies.updated", [policy.id])
                outcome = "updated"
        published = False
        if publish and state != "published":
            self._transition(conn, policy.id, state, "published", actor)
            published = True
        return outcome, published

    def publish(self, policy_id: str, *, actor: str) -> PolicyRow:
        return self._set_state(policy_id, "published", actor)

    def withdraw(self, policy_id: str, *, actor: str) -> PolicyRow:
        return self._set_state(policy_id, "withdrawn", actor)

    def _set_state(self, policy_id: str, target: str, actor: str) -> PolicyRow:
        with self.transaction() as conn:
            state = conn.execute(sa.select(policies.c.state).where(
                policies.c.id == policy_id)).scalar_one_or_none()
            if state is None:
                raise NotFound(f"no policy {policy_id!r}")
            self._transition(conn, policy_id, state, target, actor)
        row = self.policy(policy_id)
        assert row is not None
        return row

    def _transition(self, conn: sa.Connection, policy_id: str, state: str, target: str,
                    actor: str) -> None:
        if state not in TRANSITIONS[target]:
            raise Conflict(f"policy {policy_id!r} is {state}; it cannot become {target} "
                           f"(allowed from: {', '.join(sorted(TRANSITIONS[target]))})")
        now = self.clock()
        rev = self._bump(conn, "policies_revision")
        self._bump(conn, "published_revision")
        stamp = {"published_at": now} if target == "published" else {"withdrawn_at": now}
        conn.execute(sa.update(policies).where(policies.c.id == policy_id).values(
            state=target, updated_at=now, revision=rev, **stamp))
        self._audit(conn, actor, f"policy.{'publish' if target == 'published' else 'withdraw'}",
                    f"policy:{policy_id}", {"from": state, "to": target})
        self.listeners.emit(conn, f"policies.{target}", [policy_id])

    def policy(self, policy_id: str) -> PolicyRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(policies).where(policies.c.id == policy_id)).mappings().first()
        return None if row is None else policy_from_row(row, as_utc)

    def policies(
        self,
        *,
        states: Sequence[str] | None = None,
        mode: str | None = None,
        valid_on: dt.date | None = None,
    ) -> list[PolicyRow]:
        """Policies sorted by id, filtered in SQL by state, mode and validity date."""
        stmt = sa.select(policies).order_by(policies.c.id)
        if states:
            stmt = stmt.where(policies.c.state.in_(list(states)))
        if mode:
            stmt = stmt.where(policies.c.mode == mode)
        if valid_on is not None:
            stmt = stmt.where(
                sa.or_(policies.c.valid_from.is_(None), policies.c.valid_from <= valid_on),
                sa.or_(policies.c.valid_until.is_(None), policies.c.valid_until >= valid_on),
            )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [policy_from_row(r, as_utc) for r in rows]

    def published_policies(self) -> tuple[list[Policy], int]:
        """The published policies sorted by id, with the ``published_revision`` they reflect."""
        with self.transaction(write=False) as conn:
            revision = int(conn.execute(sa.select(store_state.c.value).where(
                store_state.c.key == "published_revision")).scalar_one())
            rows = conn.execute(sa.select(policies).where(policies.c.state == "published")
                                .order_by(policies.c.id)).mappings().all()
        return [policy_from_row(r, as_utc).policy for r in rows], revision

    def count_policies(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(policies.c.state, sa.func.count())
                                .group_by(policies.c.state)).all()
        return {state: int(n) for state, n in rows}

    # ------------------------------------------------------------------ API keys
    def create_key(self, role: str, *, uscc: str | None = None, label: str = "",
                   actor: str) -> tuple[keymod.ApiKey, str]:
        """A new key; the token is returned once and never stored."""
        problem = keymod.check_role(role, uscc)
        if problem:
            raise PolicyMatchError(problem)
        key_id, token, digest = keymod.new_token()
        now = self.clock()
        with self.transaction() as conn:
            conn.execute(sa.insert(api_keys).values(
                id=key_id, secret_hash=digest, role=role, uscc=uscc, label=label,
                created_at=now))
            self._audit(conn, actor, "key.create", f"key:{key_id}",
                        {"role": role, "uscc": uscc, "label": label})
        return keymod.ApiKey(key_id, role, uscc, label, now, None), token

    def verify_key(self, token: str) -> keymod.ApiKey | None:
        """The key a bearer token belongs to, if it exists, matches and is not revoked."""
        parts = keymod.split_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        if not keymod.matches(secret, row["secret_hash"]):
            return None
        return _api_key(row)

    def revoke_key(self, key_id: str, *, actor: str) -> keymod.ApiKey:
        with self.transaction() as conn:
            n = conn.execute(sa.update(api_keys).where(
                api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
            ).values(revoked_at=self.clock())).rowcount
            if not n:
                raise NotFound(f"no active key {key_id!r}")
            self._audit(conn, actor, "key.revoke", f"key:{key_id}")
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().one()
        return _api_key(row)

    def keys(self) -> list[keymod.ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at,
                                                             api_keys.c.id)).mappings().all()
        return [_api_key(r) for r in rows]

    # ------------------------------------------------------------------ runs & verdicts
    def create_run(self, *, kind: str, as_of: dt.date, params: dict[str, Any] | None = None,
                   actor: str, run_id: str | None = None) -> RunRow:
        run_id = run_id or uuid.uuid4().hex
        with self.transaction() as conn:
            conn.execute(sa.insert(runs).values(
                id=run_id, kind=kind, state="running", as_of=as_of, params=params or {},
                counts={}, created_by=actor, started_at=self.clock()))
            self._audit(conn, actor, "run.start", f"run:{run_id}", {"kind": kind,
                                                                      "as_of": as_of.isoformat()})
        run = self.run(run_id)
        assert run is not None
        return run

    def write_results(self, run_id: str, table: pd.DataFrame,
                      chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
        """Append DATA.md §5 rows to a running run, one transaction per chunk."""
        if self.run(run_id) is None:
            raise NotFound(f"no run {run_id!r}")
        cols = ["uscc", "policy_id", "status", "amount", "unmet", "unknown", "score"]
        written = 0
        for start in range(0, len(table), chunk_size):
            part = table.iloc[start:start + chunk_size]
            rows = [
                {
                    "run_id": run_id, "uscc": r[0], "policy_id": r[1], "status": r[2],
                    "amount": _float_or_none(r[3]), "unmet": r[4] or "",
                    "unknown": r[5] or "", "score": _float_or_none(r[6]),
                }
                for r in part[cols].itertuples(index=False, name=None)
            ]
            with self.transaction() as conn:
                conn.execute(sa.insert(match_results), rows)
            written += len(rows)
        return written

    def finish_run(self, run_id: str, *, state: str, counts: dict[str, Any] | None = None,
                   error: str | None = None, actor: str) -> RunRow:
        if state not in RUN_STATES or state == "running":
            raise ValueError(f"a run finishes as done or failed, not {state!r}")
        with self.transaction() as conn:
            n = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(
                state=state, counts=counts or {}, error=error, finished_at=self.clock())).rowcount
            if not n:
                raise NotFound(f"no run {run_id!r}")
            self._audit(conn, actor, f"run.{state}", f"run:{run_id}", {"counts": counts or {}})
        run = self.run(run_id)
        assert run is not None
        return run

    def run(self, run_id: str) -> RunRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _run_row(row)

    def runs(self, limit: int = 100, offset: int = 0) -> list[RunRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id)
                                .limit(limit).offset(offset)).mappings().all()
        return [_run_row(r) for r in rows]

    def latest_done_run_id(self, kind: str, as_of: dt.date | None = None) -> str | None:
        """Id of the most recently finished ``done`` run of ``kind`` (one indexed-size query;
        the API polls it to notice a new run). Failed or running runs are never returned.

        With ``as_of``, a run evaluated for that date comes first, the latest of any date
        otherwise: a page for 2026-06-30 shows the scores computed for 2026-06-30 even when
        a run for another date finished later.
        """
        order: list[sa.ColumnElement[Any]] = [runs.c.finished_at.desc(), runs.c.id.desc()]
        if as_of is not None:
            order.insert(0, sa.case((runs.c.as_of == as_of, 0), else_=1))
        stmt = (sa.select(runs.c.id).where(runs.c.kind == kind, runs.c.state == "done")
                .order_by(*order).limit(1))
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return None if value is None else str(value)

    def run_scores(self, run_id: str, batch: int = 200_000
                   ) -> Iterator[list[tuple[str, str, float]]]:
        """A run's scored rows as (uscc, policy_id, score), in parts of at most ``batch``
        rows, unordered: a large run (millions of pairs) is consumed without holding it
        all as Python objects."""
        mr = match_results
        stmt = (sa.select(mr.c.uscc, mr.c.policy_id, mr.c.score)
                .where(mr.c.run_id == run_id, mr.c.score.is_not(None)))
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(stmt)
            for part in result.partitions():
                yield [(str(u), str(q), float(v)) for u, q, v in part]

    def changed_since(self, what: str, revision: int) -> list[str]:
        """Keys (USCCs for ``firms``, ids for ``policies``) written after ``revision`` of
        that table's counter: what a stored run computed before it does not describe."""
        table = {"firms": firms, "policies": policies}[what]
        key = table.c.uscc if what == "firms" else table.c.id
        with self.engine.connect() as conn:
            return [str(v) for v in conn.execute(
                sa.select(key).where(table.c.revision > revision)).scalars()]

    def results(self, run_id: str, *, policy_id: str | None = None,
                uscc: str | None = None, statuses: Sequence[str] | None = None,
                limit: int = 1000, offset: int = 0) -> pd.DataFrame:
        """Stored verdicts of a run (DATA.md §5 columns), sorted by policy_id then uscc."""
        mr = match_results
        stmt = sa.select(mr.c.uscc, mr.c.policy_id, mr.c.status, mr.c.amount, mr.c.unmet,
                         mr.c.unknown, mr.c.score).where(mr.c.run_id == run_id)
        if policy_id is not None:
            stmt = stmt.where(mr.c.policy_id == policy_id)
        if uscc is not None:
            stmt = stmt.where(mr.c.uscc == uscc)
        if statuses:
            stmt = stmt.where(mr.c.status.in_(list(statuses)))
        stmt = stmt.order_by(mr.c.policy_id, mr.c.uscc).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.DataFrame(rows, columns=["uscc", "policy_id", "status", "amount", "unmet",
                                           "unknown", "score"])

    # ------------------------------------------------------------------ audit
    def record_audit(self, actor: str, action: str, target: str,
                     detail: dict[str, Any] | None = None) -> None:
        """Record a step taken outside the store's own writes (a batch run's workflow).

        Steps such as confirming a 免申即享 list change files, not tables; recording them
        here keeps one log of who did what to a run, queried like every other entry.
        """
        with self.transaction() as conn:
            self._audit(conn, actor, action, target, detail)

    def audit(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first: who changed what."""
        stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            stmt = stmt.where(audit_log.c.target == target)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [AuditEntry(r["id"], as_utc(r["at"]), r["actor"], r["action"], r["target"],
                           dict(r["detail"])) for r in rows]  # type: ignore[arg-type]


_PROFILE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in firms.columns if c.name not in ("as_of", "imported_at", "import_id",
                                                   "revision")
)


def _roundtrip(document: dict[str, Any]) -> Any:
    """The document as JSON gives it back (tuples become lists), for change detection."""
    return json.loads(json.dumps(document, ensure_ascii=False))


def _float_or_none(v: Any) -> float | None:
    if v is None or v == "":
        return None
    f = float(v)
    return None if f != f else f


def _stored_firm(row: Any) -> StoredFirm:
    return StoredFirm(
        record=row_to_record(row),
        as_of=as_utc(row["as_of"]),  # type: ignore[arg-type]
        imported_at=as_utc(row["imported_at"]),  # type: ignore[arg-type]
        import_id=row["import_id"],
        revision=int(row["revision"]),
    )


def _api_key(row: Any) -> keymod.ApiKey:
    return keymod.ApiKey(row["id"], row["role"], row["uscc"], row["label"],
                         as_utc(row["created_at"]), as_utc(row["revoked_at"]))  # type: ignore[arg-type]


def _run_row(row: Any) -> RunRow:
    return RunRow(row["id"], row["kind"], row["state"], row["as_of"], dict(row["params"]),
                  dict(row["counts"]), row["created_by"], as_utc(row["started_at"]),  # type: ignore[arg-type]
                  as_utc(row["finished_at"]), row["error"])


def open_store(url: str | None = None, **kwargs: Any) -> Store:
    """The store every command uses: ``url`` or ``POLICY_MATCH_DATABASE_URL`` or SQLite."""
    return Store(url, **kwargs)
