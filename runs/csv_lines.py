"""CSV lines assembled in one compiled pass from codes, dictionaries and numbers.

A province-wide list is millions of lines, and each field of a line is either a code into
a small dictionary (policy id, status, reasons), a fixed text column (uscc) or an amount.
Joining them with Arrow string kernels materialises every column as strings first, then
joins them — several copies of the whole list. Here every column is reduced to *codes into
one table of texts* (a plain text column is its own dictionary, one entry per row) and one
numba pass writes each line straight into the output buffer, amounts formatted on the way
from integers (whole yuan or fen). The GIL is released, so the CSV is written while other
threads encode the Parquet file.

Quoting (RFC 4180, only where needed) is applied to the texts before, on the dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

# Amount kinds, per row.
EMPTY, WHOLE, FEN, TEXT = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _digits(v: int) -> int:
    n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


@njit(cache=True, nogil=True)
def _put_int(out: np.ndarray, pos: int, v: int) -> int:
    """Write a non-negative integer in decimal at ``pos``; return the new position."""
    n = _digits(v)
    for k in range(n - 1, -1, -1):
        out[pos + k] = 48 + v % 10
        v //= 10
    return pos + n


@njit(cache=True, nogil=True)
def _amount_len(kind: int, value: int, text_len: int) -> int:
    if kind == EMPTY:
        return 0
    if kind == TEXT:
        return text_len
    neg = 1 if value < 0 else 0
    a = -value if value < 0 else value
    if kind == WHOLE:
        return neg + _digits(a)
    return neg + _digits(a // 100) + 3


@njit(cache=True, nogil=True)
def _lines(codes: np.ndarray, offsets: np.ndarray, data: np.ndarray, amount_col: int,
           kind: np.ndarray, value: np.ndarray) -> np.ndarray:
    ncols, n = codes.shape
    total = 0
    for i in range(n):
        for c in range(ncols):
            k = codes[c, i]
            tl = offsets[k + 1] - offsets[k]
            if c == amount_col:
                total += _amount_len(kind[i], value[i], tl)
            else:
                total += tl
        total += ncols  # separators and the line break
    out = np.empty(total, dtype=np.uint8)
    pos = 0
    for i in range(n):
        for c in range(ncols):
            k = codes[c, i]
            if c == amount_col and kind[i] != TEXT:
                kd = kind[i]
                if kd != EMPTY:
                    v = value[i]
                    if v < 0:
                        out[pos] = 45  # '-'
                        pos += 1
                        v = -v
                    if kd == WHOLE:
                        pos = _put_int(out, pos, v)
                    else:
                        pos = _put_int(out, pos, v // 100)
                        out[pos] = 46  # '.'
                        out[pos + 1] = 48 + (v % 100) // 10
                        out[pos + 2] = 48 + v % 10
                        pos += 3
            else:
                for b in range(offsets[k], offsets[k + 1]):
                    out[pos] = data[b]
                    pos += 1
            out[pos] = 44 if c < ncols - 1 else 10  # ',' or '\n'
            pos += 1
    return out


def amount_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(kind, integer value, exact texts, text index) per amount, as the list writes yuan.

    Same rule as :func:`matcher.eligibility.format_amounts`: unknown → '', whole yuan
    (within half a fen) without decimals, else two decimals — from integer fen when a
    product in doubles decides the rounding, else from ``%.2f`` itself (``TEXT`` rows).
    """
    v = np.asarray(values, dtype=np.float64)
    known = np.isfinite(v)
    x = np.where(known, v, 0.0)
    r = np.round(x)
    whole = np.abs(x - r) < 0.005
    cents = np.where(whole, 0.0, x) * 100.0
    fen = np.round(cents)
    hard = known & ~whole & (
        (np.abs(np.abs(cents - fen) - 0.5) <= 1e-9 * np.maximum(np.abs(cents), 1.0))
        | (np.abs(cents) >= 2.0**52) | (np.abs(r) >= 2.0**62))
    kind = np.where(~known, EMPTY, np.where(hard, TEXT, np.where(whole, WHOLE, FEN)))
    value = np.where(whole, r, fen)
    value[hard | ~known] = 0
    texts = [str(s) for s in np.char.mod("%.2f", v[hard])] if hard.any() else []
    index = np.zeros(len(v), dtype=np.int64)
    index[hard] = np.arange(len(texts))
    return kind.astype(np.int8), value.astype(np.int64), texts, index


def _large(arr: pa.Array) -> pa.Array:
    return pc.fill_null(arr.cast(pa.large_string()), "")


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets rebased to 0, data bytes) of a large_string array."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + n + 1]
    data = arr.buffers()[2]
    raw = (np.frombuffer(data, dtype=np.uint8) if data is not None
           else np.empty(0, dtype=np.uint8))
    return offsets - offsets[0], raw[offsets[0]: offsets[-1]]


def csv_lines(table: pa.Table, columns: tuple[str, ...], quoted: frozenset[str],
              quote: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """The CSV lines of ``table`` (no header), as bytes in a uint8 array (no extra copy).

    ``quote`` quotes a text array where needed.

    Columns: text, dictionary-encoded text, or a float (the amount; at most one). A column
    the table lacks is written empty.
    """
    n = table.num_rows
    if n == 0:
        return np.empty(0, dtype=np.uint8)
    texts: list[pa.Array] = []  # one dictionary per column, concatenated below
    codes = np.empty((len(columns), n), dtype=np.int64)
    amount_col = -1
    kind = np.zeros(n, dtype=np.int8)
    value = np.zeros(n, dtype=np.int64)
    base = 0
    for c, name in enumerate(columns):
        if name not in table.column_names:
            d = pa.array([""], type=pa.large_string())
            codes[c] = base
        else:
            col = table.column(name).combine_chunks()
            if pa.types.is_floating(col.type):
                if amount_col >= 0:
                    raise ValueError("csv_lines: at most one number column")
                amount_col = c
                kind, value, exact, index = amount_parts(
                    col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
                d = pa.array(exact or [""], type=pa.large_string())
                codes[c] = base + index
            elif pa.types.is_dictionary(col.type):
                d = _large(col.dictionary)
                d = pa.concat_arrays([d, pa.array([""], type=pa.large_string())])
                idx = col.indices.fill_null(len(d) - 1)
                codes[c] = base + idx.to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                d = _large(col)
                codes[c] = base + np.arange(n, dtype=np.int64)
            if name in quoted:
                d = quote(d)
        texts.append(d)
        base += len(d)
    offs, datas, shift = [], [], 0
    for d in texts:
        o, b = _buffers(d)
        offs.append(o[:-1] + shift)
        datas.append(b)
        shift += len(b)
    offsets = np.concatenate([*offs, np.array([shift], dtype=np.int64)])
    data = np.concatenate(datas) if datas else np.empty(0, dtype=np.uint8)
    return _lines(codes, offsets, data, amount_col, kind, value)
