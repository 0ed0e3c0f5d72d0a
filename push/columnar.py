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

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

BUCKETS = 256
COMPRESS_FROM_ROWS = 512
_USCC_LEN = 18
# Odd multipliers per byte position: a fixed, documented hash (not Python's salted hash()).
_WEIGHTS = ((np.arange(_USCC_LEN, dtype=np.uint64) * 2_654_435_761 + 40_503) % 1_000_003) | 1
_WEIGHTS_MOD = [int(w) % BUCKETS for w in _WEIGHTS]


def uscc_bytes(usccs: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """USCCs as fixed-width bytes (``S18``): the form :func:`bucket_of` hashes and
    :func:`uscc_array` hands to Arrow without a Python string per row."""
    arr = np.asarray(usccs, dtype=object)
    return arr.astype(f"S{_USCC_LEN}")  # USCCs are 18 ASCII characters (validated upstream)


def bucket_of(usccs: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """The bucket (0 … BUCKETS-1) of each USCC (text, or :func:`uscc_bytes`), vectorised
    (~0.1 s per million)."""
    raw = usccs if isinstance(usccs, np.ndarray) and usccs.dtype == f"S{_USCC_LEN}" \
        else uscc_bytes(usccs)
    if len(raw) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.ascontiguousarray(raw).view(np.uint8).reshape(len(raw), _USCC_LEN)
    # (Σ byte·weight) mod 256 only depends on the weights mod 256, and 256 divides 2**32:
    # the sum in wrapping uint32, one byte column at a time, gives the same bucket as the
    # exact sum (tests pin it) without an 18-wide uint64 copy of the codes.
    out = np.zeros(len(raw), dtype=np.uint32)
    for i, w in enumerate(_WEIGHTS_MOD):
        out += codes[:, i].astype(np.uint32) * np.uint32(w)
    return (out % BUCKETS).astype(np.int64)


def key_order(key: np.ndarray) -> np.ndarray:
    """Stable argsort of small non-negative integer keys (policy × bucket): as uint16
    numpy radix-sorts in linear time, ~5× faster than a million int64 keys."""
    if len(key) and int(key.max()) < 1 << 16 and int(key.min()) >= 0:
        return np.argsort(key.astype(np.uint16), kind="stable")
    return np.argsort(key, kind="stable")


def fixed_width(raw: np.ndarray) -> bool:
    """Every code of :func:`uscc_bytes` output is a full 18 bytes (none NUL-padded)."""
    return not (np.ascontiguousarray(raw).view(np.uint8) == 0).any()


def uscc_array(raw: np.ndarray, usccs: np.ndarray) -> pa.Array:
    """Arrow text of ``usccs`` from their :func:`uscc_bytes` ``raw``: the bytes buffer and
    fixed offsets are handed over as they are (a million USCCs through ``pa.array`` cost
    ~0.1 s). Codes that are not all 18 bytes take the slow road through ``usccs``."""
    n = len(raw)
    flat = np.ascontiguousarray(raw).view(np.uint8)
    # ``usccs`` given as the bytes themselves: the caller checked them (fixed_width).
    if n == 0 or (usccs.dtype.kind != "S" and not fixed_width(raw)):
        return column(usccs, pa.string())
    offsets = np.arange(0, (n + 1) * _USCC_LEN, _USCC_LEN, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(flat)])


# Blobs of at least COMPRESS_FROM_ROWS rows are compressed whole (one zstd frame, level 1,
# after this tag and the 8-byte raw size): ~2.5× faster than Arrow's per-buffer
# compression, whose setup cost per buffer dominates blobs of a few thousand rows. An
# Arrow IPC stream begins with 0xFFFFFFFF, so the tag cannot be mistaken for one.
_ZSTD_TAG = b"PMZ1"
_ZSTD = pa.Codec("zstd", compression_level=1)


def encode(frame: pd.DataFrame | pa.Table, schema: pa.Schema | None = None) -> bytes:
    """A frame (no index) or Arrow table as an Arrow IPC stream, zstd-compressed whole
    when large. Blobs from before hold per-buffer compressed streams; both decode."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, schema=schema, preserve_index=False)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    raw = sink.getvalue()
    if table.num_rows < COMPRESS_FROM_ROWS:
        return raw.to_pybytes()
    return _ZSTD_TAG + raw.size.to_bytes(8, "little") + _ZSTD.compress(raw, asbytes=True)


def encode_all(tables: Sequence[pa.Table]) -> list[bytes]:
    """:func:`encode` of each table, two at a time: zstd releases the GIL, and a broad
    policy writes 512 blobs (~0.2 s on one core)."""
    if len(tables) < 8:
        return [encode(t) for t in tables]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="blob-encode") as pool:
        return list(pool.map(encode, tables))


def decode(blob: bytes) -> pd.DataFrame:
    """The frame :func:`encode` wrote."""
    return decode_table(blob).to_pandas()


def decode_table(blob: bytes) -> pa.Table:
    """The Arrow table :func:`encode` wrote."""
    if blob[:4] == _ZSTD_TAG:
        size = int.from_bytes(blob[4:12], "little")
        return ipc.open_stream(_ZSTD.decompress(memoryview(blob)[12:],
                                                decompressed_size=size)).read_all()
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


def dictionary(cat: pd.Categorical) -> pa.DictionaryArray:
    """A categorical as an Arrow dictionary column (the codes are not copied as texts),
    indexed by the narrowest integer type that holds its categories."""
    return _dictionary(np.asarray(cat.codes), np.asarray(cat.categories, dtype=object))


def _dictionary(codes: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    n = len(values)
    index = np.int8 if n < 1 << 7 else np.int16 if n < 1 << 15 else np.int32
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(index, copy=False)),
                                          pa.array(values, pa.string()))


# Up to this many distinct texts, a blob carries the whole dictionary; beyond it, only
# the texts its own rows use. (One firm re-evaluated against 215 policies has a few
# thousand texts: a shared dictionary made each of its ~200 small blobs ~300 kB.)
SHARED_DICTIONARY = 64


def keyed_tables(table: pa.Table, texts: Mapping[str, pd.Categorical], key: np.ndarray,
                 names: Sequence[str]) -> list[tuple[int, pa.Table]]:
    """One table per run of equal ``key`` values (``table`` and ``texts`` in key order):
    ``table``'s columns sliced without a copy, each text column a dictionary column, all
    in the order of ``names``."""
    shared = {n: dictionary(c) for n, c in texts.items()
              if len(c.categories) <= SHARED_DICTIONARY}
    local = {n: (np.asarray(c.codes), np.asarray(c.categories, dtype=object))
             for n, c in texts.items() if n not in shared}
    out = []
    for k, a, b in _runs(key):
        cols = {}
        for name in names:
            if name in shared:
                cols[name] = shared[name].slice(a, b - a)
            elif name in local:
                codes, values = local[name]
                seg = codes[a:b]
                used = np.unique(seg)
                cols[name] = _dictionary(np.searchsorted(used, seg), values[used])
            else:
                cols[name] = table.column(name).slice(a, b - a)
        out.append((k, pa.table(cols)))
    return out


def _runs(key: np.ndarray) -> list[tuple[int, int, int]]:
    if len(key) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    return [(int(key[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
