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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from matcher import coded
from matcher.coded import MatchCodes
from push import columnar
from push.tables import push_snapshots

# Columns of a blob (``policy_id`` and ``bucket`` are the row's key). ``as_of`` is a
# proleptic ordinal (the day the firm was last told).
BLOB_COLUMNS = ("uscc", "status", "amount", "unknown", "met", "review", "version", "as_of")
FRAME_COLUMNS = ("uscc", "policy_id", "status", "amount", "unknown", "met", "review",
                 "version", "as_of")
Group = tuple[str, int]
_EPOCH = dt.date(1970, 1, 1).toordinal()
TEXT = pa.dictionary(pa.int32(), pa.string())
STATUS = pa.dictionary(pa.int8(), pa.string())
# Blobs are written with the texts dictionary-encoded (a few distinct texts per blob, with
# the narrowest index type that holds them) and 32-bit integers, so that a policy
# published to a million firms compresses ~30 % fewer bytes; blobs written before hold
# plain strings and 64-bit integers. :func:`as_dictionaries` reads every form as SCHEMA.
SCHEMA = pa.schema([("uscc", pa.string()), ("status", STATUS), ("amount", pa.float64()),
                    ("unknown", TEXT), ("met", TEXT), ("review", TEXT),
                    ("version", pa.int32()), ("as_of", pa.int32())])
PLAIN_SCHEMA = pa.schema([(f.name, f.type.value_type if pa.types.is_dictionary(f.type)
                           else f.type) for f in SCHEMA])


class ConcurrentWrite(RuntimeError):
    """A snapshot blob changed between reading and rewriting it (no lock was held)."""


@dataclass
class Loaded:
    """Snapshots read for one detection unit.

    ``matches`` holds the rows in scope as codes (with ``version`` and ``told``);
    ``groups`` every blob read, whole, with its seq — a rewrite keeps the rows of firms
    outside the scope. ``scope`` is the set of firms the unit re-evaluates (None: every
    firm of the policies read).
    """

    matches: MatchCodes
    groups: dict[Group, tuple[int, pa.Table]] = field(default_factory=dict)
    scope: frozenset[str] | None = None
    policies: frozenset[str] | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The rows spelled out (``FRAME_COLUMNS``, ``as_of`` as datetime64): for small
        reads (one firm) and tests."""
        return to_frame(self.matches)


def to_frame(m: MatchCodes) -> pd.DataFrame:
    out = m.to_frame().drop(columns="unmet")
    out["version"] = (np.zeros(len(m), np.int64) if m.version is None
                      else m.version.astype(np.int64))
    told = np.zeros(len(m), np.int64) if m.told is None else m.told
    out["as_of"] = pd.to_datetime((told - _EPOCH).astype("datetime64[D]"))
    return out.loc[:, list(FRAME_COLUMNS)]


def _texts(m: MatchCodes) -> dict[str, pd.Categorical]:
    return {"unknown": m.unknown, "met": m.met, "review": m.review}


def _base(m: MatchCodes, raw: np.ndarray) -> pa.Table:
    """The blob columns that are not texts (``raw``: ``columnar.uscc_bytes`` of the
    rows' USCCs)."""
    return pa.table({
        "uscc": columnar.uscc_array(raw, m.uscc),
        "status": pa.DictionaryArray.from_arrays(
            pa.array(m.status, pa.int8()), pa.array(coded.STATUSES, pa.string())),
        "amount": pa.array(m.amount, pa.float64(), from_pandas=True),
        "version": pa.array(m.version, pa.int32()), "as_of": pa.array(m.told, pa.int32()),
    })


def encode_rows(m: MatchCodes, raw: np.ndarray) -> pa.Table:
    """Rows of one blob as its table: texts stay codes."""
    ((_, table),) = columnar.keyed_tables(_base(m, raw), _texts(m),
                                          np.zeros(len(m), dtype=np.int64), BLOB_COLUMNS)
    return table


def as_dictionaries(table: pa.Table) -> pa.Table:
    """A blob table in :data:`SCHEMA`, whether written with dictionaries or plain texts."""
    cols = []
    for f in SCHEMA:
        col = table.column(f.name)
        if pa.types.is_dictionary(f.type) and not pa.types.is_dictionary(col.type):
            col = pc.dictionary_encode(col.cast(pa.string()).fill_null(""))
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=SCHEMA)


def _categorical(col: pa.ChunkedArray | pa.Array) -> pd.Categorical:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    cats = pd.Index(arr.dictionary.fill_null("").to_pylist(), dtype=object)
    if cats.has_duplicates:  # never written so, but a merged table may repeat a text
        return coded.from_codes(codes, list(cats))
    out = pd.Categorical.from_codes(codes, cats)
    return out if not (codes < 0).any() else coded.categorical(out)


def decode(table: pa.Table, policy: np.ndarray) -> MatchCodes:
    """Blob rows (``as_dictionaries`` output, dictionaries unified) as codes."""
    status = _categorical(table.column("status"))
    return MatchCodes(
        uscc=table.column("uscc").to_numpy(zero_copy_only=False).astype(object),
        policy_id=coded.categorical(policy) if not isinstance(policy, pd.Categorical)
        else policy,
        status=coded.status_codes(status), amount=table.column("amount").to_numpy(
            zero_copy_only=False).astype(np.float64),
        unknown=_categorical(table.column("unknown")), met=_categorical(table.column("met")),
        review=_categorical(table.column("review")),
        version=table.column("version").to_numpy(zero_copy_only=False).astype(np.int64),
        told=table.column("as_of").to_numpy(zero_copy_only=False).astype(np.int64))


def load(conn: sa.Connection, policy_ids: Sequence[str] | None = None,
         usccs: Sequence[str] | None = None,
         statuses: Sequence[str] | None = None) -> Loaded:
    """Snapshots of ``policy_ids`` (all when None) for ``usccs`` (all firms when None).

    With ``usccs`` only those firms' buckets are read. ``statuses`` filters ``matches``
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
    parts, names, counts = [], [], []
    none = pa.array([], type=pa.string())
    for pid, bucket, seq, data in conn.execute(stmt.order_by(s.c.policy_id, s.c.bucket)):
        table = as_dictionaries(columnar.decode_table(bytes(data)))
        groups[(pid, int(bucket))] = (int(seq), table)
        part = table
        if scope is not None:
            part = part.filter(pc.is_in(part["uscc"],
                                        value_set=by_bucket.get(int(bucket), none)))
        if part.num_rows:
            parts.append(part)
            names.append(pid)
            counts.append(part.num_rows)
    if not parts:
        matches = MatchCodes.empty(with_state=True)
    else:
        table = pa.concat_tables(parts).unify_dictionaries()
        pcodes = np.repeat(np.arange(len(names), dtype=np.int32), counts)
        pnames, pinv = np.unique(np.asarray(names, dtype=object), return_inverse=True)
        matches = decode(table, pd.Categorical.from_codes(
            pinv.astype(np.int32)[pcodes], pd.Index(pnames, dtype=object)))
        if statuses is not None:
            wanted = np.isin(matches.status, [coded.STATUSES.index(x) for x in statuses])
            matches = matches.take(wanted)
    return Loaded(matches, groups, scope,
                  None if policy_ids is None else frozenset(policy_ids))


def write(conn: sa.Connection, loaded: Loaded, state: MatchCodes, raw: np.ndarray,
          touched: np.ndarray, key: np.ndarray, now: dt.datetime) -> dict[Group, int]:
    """Rewrite the blobs holding any ``touched`` row of ``state``; returns their new seqs.

    ``state`` is the new snapshot of every pair in the unit's scope (with ``version`` and
    ``told``), in the order of ``key`` (policy code × ``BUCKETS`` + bucket), ``raw`` its
    ``columnar.uscc_bytes``, ``touched`` a boolean mask of the rows that differ from what
    is stored. A rewritten blob is its stored rows that ``state`` does not restate plus
    ``state``'s rows in that (policy, bucket).
    """
    if not touched.any():
        return {}
    puniq = state.policy_id.categories
    hit = np.zeros(len(puniq) * columnar.BUCKETS, dtype=bool)
    hit[key[touched]] = True
    keep = hit[key]  # only the touched groups are converted at all
    rows_in = state.take(keep)
    groups, tables = [], []
    for k, rows in columnar.keyed_tables(_base(rows_in, raw[keep]), _texts(rows_in),
                                         key[keep], BLOB_COLUMNS):
        g = (str(puniq[k // columnar.BUCKETS]), k % columnar.BUCKETS)
        old = loaded.groups.get(g)
        if old is not None:  # rows of this blob that the unit did not restate stay as they were
            kept = old[1].filter(pc.invert(pc.is_in(old[1]["uscc"], value_set=rows["uscc"])))
            if kept.num_rows:
                rows = pa.concat_tables([kept, rows.cast(SCHEMA)]).unify_dictionaries() \
                    .combine_chunks()
        groups.append((g, old, rows.num_rows))
        tables.append(rows)
    inserts, updates, seqs = [], [], {}
    for (g, old, n), blob in zip(groups, columnar.encode_all(tables), strict=True):
        if old is None:
            seqs[g] = 1
            inserts.append({"policy_id": g[0], "bucket": g[1], "seq": 1, "n": n,
                            "data": blob, "updated_at": now})
        else:
            seqs[g] = old[0] + 1
            updates.append({"k_policy": g[0], "k_bucket": g[1], "k_seq": old[0],
                            "seq": old[0] + 1, "n": n, "data": blob, "updated_at": now})
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


def current(conn: sa.Connection, uscc: str, policy_ids: Sequence[str]) -> pd.DataFrame:
    """One firm's snapshots for ``policy_ids`` (reads one bucket per policy)."""
    return load(conn, policy_ids, [uscc]).frame
