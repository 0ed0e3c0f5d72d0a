"""Push: columnar verdict snapshots and the compact fan-out outbox.

Revision ID: 0102_push_fanout
Revises: 0101_push
Create Date: 2026-11-26

Publishing a policy that matched most of a million firms wrote a million snapshot rows
and a million notification rows in its transaction (16–39 s). This revision replaces the
per-pair ``push_verdicts`` by ``push_snapshots`` — one row per (policy, bucket of firms)
holding a compressed Arrow blob — and adds ``push_fanout``, the outbox of one row per
(policy, bucket, snapshot seq) that the dispatcher expands into ``push_notifications``.
Existing verdict rows are carried over into blobs (same bucket function as the code,
``push.columnar``); existing notifications stay as they are (already expanded).

The bucket function and the blob format are frozen below, not imported: a migration
must do tomorrow what it did when it was written, whatever later code does.
``tests/test_push_fanout.py`` checks that ``push.columnar`` still agrees with them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0102_push_fanout"
down_revision = "0101_push"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


# -- frozen copy of push.columnar as of this revision ------------------------------------
BUCKETS = 256
_COMPRESS_FROM_ROWS = 512
_USCC_LEN = 18
_WEIGHTS = ((np.arange(_USCC_LEN, dtype=np.uint64) * 2_654_435_761 + 40_503) % 1_000_003) | 1


def bucket_of(usccs: Any) -> np.ndarray:
    """The bucket (0 … 255) of each 18-character USCC: a fixed weighted byte sum."""
    arr = np.asarray(usccs, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = arr.astype(f"S{_USCC_LEN}")
    codes = raw.view(np.uint8).reshape(len(arr), _USCC_LEN).astype(np.uint64)
    return ((codes @ _WEIGHTS) % BUCKETS).astype(np.int64)


def encode(frame: Any) -> bytes:
    """A frame as an Arrow IPC stream, zstd-compressed from 512 rows."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    codec = "zstd" if table.num_rows >= _COMPRESS_FROM_ROWS else None
    with ipc.new_stream(sink, table.schema,
                        options=ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(blob: bytes) -> Any:
    """The frame :func:`encode` wrote."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    return ipc.open_stream(pa.py_buffer(blob)).read_all().to_pandas()


def upgrade() -> None:
    op.create_table(
        "push_snapshots",
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("policy_id", "bucket", name="pk_push_snapshots"),
    )
    op.create_table(
        "push_fanout",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expanded_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_push_fanout"),
        sa.UniqueConstraint("policy_id", "bucket", "seq",
                            name="uq_push_fanout_policy_id_bucket_seq"),
    )
    op.create_index("ix_push_fanout_expanded_at_id", "push_fanout", ["expanded_at", "id"])
    op.create_index("ix_push_fanout_bucket_expanded_at", "push_fanout",
                    ["bucket", "expanded_at"])
    _carry_over_verdicts()
    op.drop_index("ix_push_verdicts_policy_id", table_name="push_verdicts")
    op.drop_table("push_verdicts")


def _carry_over_verdicts() -> None:
    """Every ``push_verdicts`` row into the blob of its (policy, bucket)."""
    import pandas as pd

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT uscc, policy_id, status, amount, unknown, met, review, version, as_of "
        "FROM push_verdicts")).all()
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=["uscc", "policy_id", "status", "amount", "unknown",
                                        "met", "review", "version", "as_of"])
    frame["as_of"] = [(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]))
                      .toordinal() for d in frame["as_of"]]
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").astype("float64")
    frame["version"] = frame["version"].astype("int64")
    frame["bucket"] = bucket_of(frame["uscc"].to_numpy(dtype=object))
    now = dt.datetime.now(dt.UTC)
    table = sa.table("push_snapshots", sa.column("policy_id"), sa.column("bucket"),
                     sa.column("seq"), sa.column("n"), sa.column("data", sa.LargeBinary),
                     sa.column("updated_at", Timestamp))
    out = []
    for (pid, bucket), part in frame.groupby(["policy_id", "bucket"], sort=True):
        body = part[["uscc", "status", "amount", "unknown", "met", "review", "version",
                     "as_of"]].reset_index(drop=True)
        out.append({"policy_id": pid, "bucket": int(bucket), "seq": 1, "n": len(body),
                    "data": encode(body), "updated_at": now})
    conn.execute(sa.insert(table), out)


def downgrade() -> None:
    op.create_table(
        "push_verdicts",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("unknown", sa.Text, nullable=False),
        sa.Column("met", sa.Text, nullable=False),
        sa.Column("review", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("uscc", "policy_id", name="pk_push_verdicts"),
    )
    op.create_index("ix_push_verdicts_policy_id", "push_verdicts", ["policy_id"])
    _carry_back_snapshots()
    op.drop_index("ix_push_fanout_bucket_expanded_at", table_name="push_fanout")
    op.drop_index("ix_push_fanout_expanded_at_id", table_name="push_fanout")
    op.drop_table("push_fanout")
    op.drop_table("push_snapshots")


def _carry_back_snapshots() -> None:
    conn = op.get_bind()
    table = sa.table("push_verdicts", *(sa.column(c) for c in (
        "uscc", "policy_id", "status", "amount", "unknown", "met", "review", "version")),
        sa.column("as_of", sa.Date), sa.column("updated_at", Timestamp))
    now = dt.datetime.now(dt.UTC)
    for pid, data in conn.execute(sa.text("SELECT policy_id, data FROM push_snapshots")).all():
        frame = decode(bytes(data))
        rows = [{"uscc": r.uscc, "policy_id": pid, "status": r.status,
                 "amount": None if r.amount != r.amount else float(r.amount),
                 "unknown": r.unknown, "met": r.met, "review": r.review,
                 "version": int(r.version), "as_of": dt.date.fromordinal(int(r.as_of)),
                 "updated_at": now} for r in frame.itertuples(index=False)]
        if rows:
            conn.execute(sa.insert(table), rows)
