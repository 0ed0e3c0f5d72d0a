"""Frames as compressed columnar blobs, and the bucket a firm's rows live in.

Why: a policy that matches a million firms must not cost a million SQL rows when it is
published. The snapshots and the fan-out outbox store one row per (policy, bucket of
firms) whose payload is an Arrow IPC stream (zstd-compressed, columnar): encoding a
million rows takes ~0.1 s and the database sees a few hundred rows.

``bucket_of`` spreads firms over ``BUCKETS`` buckets by a fixed function of the USCC's
bytes, so that the rows of one firm (an API profile change) are found by reading one
small blob per policy instead of the whole policy. It must never change: stored blobs
are keyed by it (a new function would need a migration that re-buckets them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

BUCKETS = 256
COMPRESS_FROM_ROWS = 512
_USCC_LEN = 18
# Odd multipliers per byte position: a fixed, documented hash (not Python's salted hash()).
_WEIGHTS = ((np.arange(_USCC_LEN, dtype=np.uint64) * 2_654_435_761 + 40_503) % 1_000_003) | 1


def bucket_of(usccs: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """The bucket (0 … BUCKETS-1) of each USCC, vectorised (~0.1 s per million)."""
    arr = np.asarray(usccs, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = arr.astype(f"S{_USCC_LEN}")  # USCCs are 18 ASCII characters (validated upstream)
    codes = raw.view(np.uint8).reshape(len(arr), _USCC_LEN).astype(np.uint64)
    return ((codes @ _WEIGHTS) % BUCKETS).astype(np.int64)


def encode(frame: pd.DataFrame | pa.Table, schema: pa.Schema | None = None) -> bytes:
    """A frame (no index) or Arrow table as a zstd-compressed Arrow IPC stream."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, schema=schema, preserve_index=False)
    sink = pa.BufferOutputStream()
    # zstd costs ~0.5 ms per blob in per-buffer setup alone: small blobs stay plain.
    codec = "zstd" if table.num_rows >= COMPRESS_FROM_ROWS else None
    with ipc.new_stream(sink, table.schema,
                        options=ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(blob: bytes) -> pd.DataFrame:
    """The frame :func:`encode` wrote."""
    return decode_table(blob).to_pandas()


def decode_table(blob: bytes) -> pa.Table:
    """The Arrow table :func:`encode` wrote."""
    return ipc.open_stream(pa.py_buffer(blob)).read_all()


def column(values: np.ndarray | pd.Series, typ: pa.DataType) -> pa.Array:
    """One column as Arrow: text with "" for missing, numbers with null for NaN/NA."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        arr = values if values.type == typ else values.cast(typ)
        return arr.fill_null("") if typ == pa.string() and arr.null_count else arr
    if typ == pa.string():
        if isinstance(values, pd.Series) and hasattr(values.array, "__arrow_array__"):
            arr = pa.array(values.array).cast(typ)  # Arrow-backed text: no Python objects
            return arr.fill_null("") if arr.null_count else arr
        v = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
        try:  # from_pandas=True (NaN as null) is ~6× slower on repeated texts: only if needed
            arr = pa.array(v, type=typ)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            arr = pa.array(v, type=typ, from_pandas=True)
        return arr.fill_null("") if arr.null_count else arr
    if pa.types.is_floating(typ):
        v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        return pa.array(v, type=typ, from_pandas=True)
    if isinstance(values, pd.Series) or (isinstance(values, np.ndarray) and values.dtype == object):
        return pa.array(pd.Series(values).astype("Int64"), type=typ, from_pandas=True)
    return pa.array(np.asarray(values), type=typ)


def grouped(columns: dict[str, np.ndarray | pd.Series], schema: pa.Schema,
            key: np.ndarray) -> list[tuple[int, pa.Table]]:
    """Rows grouped by an integer ``key``: (key, zero-copy slice), keys ascending.

    The columns are put in key order while still numpy (a pointer gather), converted to
    Arrow once, and sliced — no per-group filtering, no per-group conversion.
    """
    if len(key) == 0:
        return []
    order = np.argsort(key, kind="stable")
    table = pa.table({name: column(_take(columns[name], order), typ)
                      for name, typ in zip(schema.names, schema.types, strict=True)},
                     schema=schema)
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    return [(int(k[a]), table.slice(int(a), int(b - a))) for a, b in zip(starts, ends,
                                                                         strict=True)]


def subset(values: Any, mask: np.ndarray) -> Any:
    """The rows of a numpy array, Series or Arrow array where ``mask`` is true."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.filter(pa.array(mask))
    if isinstance(values, pd.Series):
        return values[mask].reset_index(drop=True)
    return np.asarray(values)[mask]


def _take(values: Any, order: np.ndarray) -> Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(order))
    if isinstance(values, pd.Series):
        return values.iloc[order].reset_index(drop=True)
    return np.asarray(values)[order]
