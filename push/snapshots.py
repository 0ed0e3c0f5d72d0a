"""Verdict snapshots ("what each firm was last told per policy"), stored columnar.

Why columnar: publishing a policy that matches most of a million firms used to write a
million snapshot rows (20–35 µs each). Here a policy's snapshot is one row per bucket of
firms (``push.columnar.bucket_of``, 256 buckets) holding a compressed Arrow blob, so a
publish writes at most 256 rows whatever the number of firms; a profile change reads and
rewrites only its firm's bucket of each policy.

Every rewrite bumps the blob's ``seq``; the fan-out outbox row of the same change is keyed
by it (``push.fanout``). Writers hold the detection lock (``push.detect._lock``), and the
``UPDATE … WHERE seq = <read seq>`` refuses a blob someone else rewrote meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from push import columnar
from push.tables import push_snapshots

# Columns of a blob (``policy_id`` and ``bucket`` are the row's key). ``as_of`` is a
# proleptic ordinal (the day the firm was last told).
BLOB_COLUMNS = ("uscc", "status", "amount", "unknown", "met", "review", "version", "as_of")
FRAME_COLUMNS = ("uscc", "policy_id", "status", "amount", "unknown", "met", "review",
                 "version", "as_of")
Group = tuple[str, int]
_EPOCH = dt.date(1970, 1, 1).toordinal()


class ConcurrentWrite(RuntimeError):
    """A snapshot blob changed between reading and rewriting it (no lock was held)."""


@dataclass
class Loaded:
    """Snapshots read for one detection unit.

    ``frame`` holds the rows in scope (``FRAME_COLUMNS``, ``as_of`` as datetime64);
    ``groups`` every blob read, whole, with its seq — a rewrite keeps the rows of firms
    outside the scope. ``scope`` is the set of firms the unit re-evaluates (None: every
    firm of the policies read).
    """

    frame: pd.DataFrame
    groups: dict[Group, tuple[int, pa.Table]] = field(default_factory=dict)
    scope: frozenset[str] | None = None
    policies: frozenset[str] | None = None


def empty_frame() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in FRAME_COLUMNS})
    out["amount"] = out["amount"].astype("float64")
    out["version"] = out["version"].astype("int64")
    out["as_of"] = pd.to_datetime(out["as_of"])
    return out


SCHEMA = pa.schema([("uscc", pa.string()), ("status", pa.string()), ("amount", pa.float64()),
                    ("unknown", pa.string()), ("met", pa.string()), ("review", pa.string()),
                    ("version", pa.int64()), ("as_of", pa.int64())])


def load(conn: sa.Connection, policy_ids: Sequence[str] | None = None,
         usccs: Sequence[str] | None = None,
         statuses: Sequence[str] | None = None) -> Loaded:
    """Snapshots of ``policy_ids`` (all when None) for ``usccs`` (all firms when None).

    With ``usccs`` only those firms' buckets are read. ``statuses`` filters ``frame``
    (not ``groups``).
    """
    s = push_snapshots
    stmt = sa.select(s.c.policy_id, s.c.bucket, s.c.seq, s.c.data)
    if policy_ids is not None:
        stmt = stmt.where(s.c.policy_id.in_(list(policy_ids)))
    scope = None
    # The scope's firms per bucket: a blob is filtered by the few firms of its own bucket.
    # (One value set of all 30,000 firms of an import backlog, rebuilt for each of 55,000
    # blobs, made loading take 26 s.)
    by_bucket: dict[int, pa.Array] = {}
    if usccs is not None:
        scope = frozenset(str(u) for u in usccs)
        ordered = np.array(sorted(scope), dtype=object)
        of = columnar.bucket_of(ordered)
        for b in np.unique(of):
            by_bucket[int(b)] = pa.array(ordered[of == b], type=pa.string())
        if len(by_bucket) < columnar.BUCKETS:
            stmt = stmt.where(s.c.bucket.in_(sorted(by_bucket)))
    groups: dict[Group, tuple[int, pa.Table]] = {}
    parts, names = [], []
    none = pa.array([], type=pa.string())
    status_arr = pa.array(list(statuses), type=pa.string()) if statuses is not None else None
    for pid, bucket, seq, data in conn.execute(stmt.order_by(s.c.policy_id, s.c.bucket)):
        table = columnar.decode_table(bytes(data)).cast(SCHEMA)
        groups[(pid, int(bucket))] = (int(seq), table)
        part = table
        if scope is not None:
            part = part.filter(pc.is_in(part["uscc"],
                                        value_set=by_bucket.get(int(bucket), none)))
        if status_arr is not None:
            part = part.filter(pc.is_in(part["status"], value_set=status_arr))
        if part.num_rows:
            parts.append(part)
            names.append(np.full(part.num_rows, pid, dtype=object))
    if not parts:
        frame = empty_frame()
    else:
        frame = pa.concat_tables(parts).to_pandas()
        frame["policy_id"] = np.concatenate(names)
        frame["as_of"] = pd.to_datetime(
            (frame["as_of"].to_numpy(dtype=np.int64) - _EPOCH).astype("datetime64[D]"))
        frame = frame.loc[:, list(FRAME_COLUMNS)]
    return Loaded(frame, groups, scope,
                  None if policy_ids is None else frozenset(policy_ids))


def write(conn: sa.Connection, loaded: Loaded, state: Mapping[str, np.ndarray],
          touched: np.ndarray, bucket: np.ndarray, now: dt.datetime) -> dict[Group, int]:
    """Rewrite the blobs holding any ``touched`` row of ``state``; returns their new seqs.

    ``state`` is the new snapshot of every pair in the unit's scope (arrays named as
    ``FRAME_COLUMNS``, ``as_of`` as dates), ``touched`` a boolean mask of the rows that
    differ from what is stored, ``bucket`` each row's bucket. A rewritten blob is its
    stored rows that ``state`` does not restate plus ``state``'s rows in that
    (policy, bucket).
    """
    if not touched.any():
        return {}
    pcodes, puniq = pd.factorize(np.asarray(state["policy_id"], dtype=object))
    key = pcodes.astype(np.int64) * columnar.BUCKETS + bucket
    hit = np.zeros(len(puniq) * columnar.BUCKETS, dtype=bool)
    hit[key[touched]] = True
    rows_of = {**state, "as_of": _ordinals(np.asarray(state["as_of"], dtype=object))}
    # Only the touched groups are converted at all.
    keep = hit[key]
    inserts, updates, seqs = [], [], {}
    for k, rows in columnar.grouped({c: columnar.subset(rows_of[c], keep) for c in BLOB_COLUMNS},
                                    SCHEMA, key[keep]):
        g = (str(puniq[k // columnar.BUCKETS]), k % columnar.BUCKETS)
        old = loaded.groups.get(g)
        if old is not None:  # rows of this blob that the unit did not restate stay as they were
            keep = old[1].filter(pc.invert(pc.is_in(old[1]["uscc"], value_set=rows["uscc"])))
            if keep.num_rows:
                rows = pa.concat_tables([keep, rows])
        blob = columnar.encode(rows)
        if old is None:
            seqs[g] = 1
            inserts.append({"policy_id": g[0], "bucket": g[1], "seq": 1, "n": rows.num_rows,
                            "data": blob, "updated_at": now})
        else:
            seqs[g] = old[0] + 1
            updates.append({"k_policy": g[0], "k_bucket": g[1], "k_seq": old[0],
                            "seq": old[0] + 1, "n": rows.num_rows, "data": blob,
                            "updated_at": now})
    s = push_snapshots
    if inserts:
        conn.execute(sa.insert(s), inserts)
    if updates:
        done = conn.execute(
            sa.update(s).where(s.c.policy_id == sa.bindparam("k_policy"),
                               s.c.bucket == sa.bindparam("k_bucket"),
                               s.c.seq == sa.bindparam("k_seq"))
            .values(seq=sa.bindparam("seq"), n=sa.bindparam("n"), data=sa.bindparam("data"),
                    updated_at=sa.bindparam("updated_at")),
            updates).rowcount
        if done != len(updates):
            raise ConcurrentWrite("a snapshot blob was rewritten by another detection meanwhile")
    return seqs


def _ordinals(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Proleptic ordinals of a column of dates (``datetime.date`` objects or datetime64)."""
    values = dates.to_numpy() if isinstance(dates, pd.Series) else dates
    days = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[D]")
    return days.astype(np.int64) + _EPOCH


def current(conn: sa.Connection, uscc: str, policy_ids: Sequence[str]) -> pd.DataFrame:
    """One firm's snapshots for ``policy_ids`` (reads one bucket per policy)."""
    return load(conn, policy_ids, [uscc]).frame
