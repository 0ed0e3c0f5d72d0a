"""Columnar encoding of the firm table for the evaluation kernel.

Numbers become float64 rows (NaN = unknown); codes and categories become small integer
codes into a per-field vocabulary (0 = unknown), so that any leaf on them — prefix
``in`` on ``region_code``, ``==`` on ``size_class`` — is one lookup-table gather instead
of a string ``isin``. Firms are sorted by region code so that a policy restricted to a
region only touches that region's slice (the index the benchmark numbers asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.fields import FIELDS

CODED_FIELDS: tuple[str, ...] = (
    "region_code", "industry_code", "size_class", "tax_credit_rating",
    "listed", "serious_dishonesty", "major_accident_3y", "above_scale",
)
NUMERIC_FIELDS: tuple[str, ...] = tuple(n for n, s in FIELDS.items() if s.kind == "number")


@dataclass
class FirmColumns:
    """The firm table as arrays, in region order (``order`` maps back to input rows)."""

    uscc: np.ndarray  # object, sorted order
    order: np.ndarray  # int64: sorted position -> input row
    numeric: np.ndarray  # float64 [len(NUMERIC_FIELDS), n]
    codes: np.ndarray  # int32 [len(CODED_FIELDS), n]; 0 unknown, k -> vocab[field][k-1]
    vocab: dict[str, list[object]]
    qualification_mask: np.ndarray  # int64 [n]; -1 unknown
    region_sorted: np.ndarray  # str, '' for unknown, ascending
    frame: pd.DataFrame  # derived frame in sorted order, for rarely tested fields

    @property
    def n(self) -> int:
        return len(self.uscc)

    def numeric_row(self, field: str) -> int:
        return NUMERIC_FIELDS.index(field)

    def code_row(self, field: str) -> int:
        return CODED_FIELDS.index(field)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype="object")


def _region_order(derived: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by region code (unknown first) and the sorted codes ('' for unknown).

    Sorting small integer codes of the distinct regions is much cheaper than sorting a
    million strings.
    """
    region = _column(derived, "region_code").astype("string")
    k, uniques = pd.factorize(region, sort=True, use_na_sentinel=True)
    order = np.argsort(k, kind="stable")
    names = np.array(["", *(str(u) for u in uniques)], dtype=str)
    return order.astype(np.int64), names[k[order] + 1]


def _floats(col: pd.Series) -> np.ndarray:
    """A numeric column as float64 (NaN for unknown), without a copy when it already is."""
    if col.dtype == np.float64:
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()


def _firm_columns(frame: pd.DataFrame, order: np.ndarray, numeric: np.ndarray,
                  codes: np.ndarray, vocab: dict[str, list[object]],
                  region_sorted: np.ndarray) -> FirmColumns:
    """The arrays assembled, with each firm's qualification bits (-1: unknown)."""
    qual = (
        frame["qualification_mask"].to_numpy(dtype=np.int64)
        if "qualification_mask" in frame.columns
        else np.full(len(frame), -1, dtype=np.int64)
    )
    return FirmColumns(uscc=frame["uscc"].to_numpy(dtype=object), order=order,
                       numeric=numeric, codes=codes, vocab=vocab, qualification_mask=qual,
                       region_sorted=region_sorted, frame=frame)


SMALL_ROWS = 8  # firms; up to this many are encoded value by value (see ``_encode_small``)


def encode(derived: pd.DataFrame) -> FirmColumns:
    """Encode a frame that already carries the derived attributes (see ``derive``).

    A few firms (one firm on request) are encoded value by value: the same arrays and
    frame, without the fixed cost of a sort and a factorisation per column, which is
    most of the time for one row.
    """
    if 0 < len(derived) <= SMALL_ROWS:
        return _encode_small(derived)
    return encode_columns(derived)


def encode_columns(derived: pd.DataFrame) -> FirmColumns:
    """:func:`encode` by whole-column operations, for any number of firms."""
    order, region_sorted = _region_order(derived)
    n = len(order)
    # Numbers are gathered straight into the kernel's matrix; the sorted frame then
    # shares those rows instead of holding a second copy.
    numeric = np.empty((len(NUMERIC_FIELDS), n), dtype=np.float64)
    shared: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC_FIELDS):
        if name not in derived.columns:
            numeric[i] = np.nan
            continue
        col = derived[name]
        values = _floats(col)
        np.take(values, order, out=numeric[i], mode="clip")  # "raise" would buffer a copy
        if col.dtype == np.float64:
            shared[name] = numeric[i]
    rest = [c for c in derived.columns if c not in shared]
    taken = derived[rest].iloc[order].reset_index(drop=True)
    frame = pd.DataFrame(
        {c: shared[c] if c in shared else taken[c] for c in derived.columns}, copy=False
    )
    codes = np.zeros((len(CODED_FIELDS), n), dtype=np.int32)
    vocab: dict[str, list[object]] = {}
    for i, name in enumerate(CODED_FIELDS):
        col = _column(frame, name)
        if FIELDS[name].kind == "bool":
            values = col.astype("boolean")
            codes[i] = np.where(values.isna(), 0, np.where(values.fillna(False), 2, 1))
            vocab[name] = [False, True]
        else:
            k, uniques = pd.factorize(col.astype("string"), sort=True, use_na_sentinel=True)
            codes[i] = k + 1
            vocab[name] = [str(u) for u in uniques]
    return _firm_columns(frame, order, numeric, codes, vocab, region_sorted)


def _strings(col: pd.Series) -> list[str | None]:
    """Values as ``astype("string")`` gives them, None for missing."""
    s = col if isinstance(col.dtype, pd.StringDtype) else col.astype("string")
    return [None if v is None else str(v) for v in s.to_numpy(dtype=object, na_value=None)]


def _encode_small(derived: pd.DataFrame) -> FirmColumns:
    """:func:`encode_columns` for a few firms, value by value (same arrays, same frame).

    Orders and vocabularies are those of ``pd.factorize(..., sort=True)``: distinct
    values in ascending code-point order, unknown first in the region order.
    """
    n = len(derived)
    columns = set(derived.columns)
    region = _strings(derived["region_code"]) if "region_code" in columns else [None] * n
    order_list = sorted(range(n), key=lambda i: (region[i] is not None, region[i] or ""))
    order = np.array(order_list, dtype=np.int64)
    region_sorted = np.array([region[i] or "" for i in order_list], dtype=str)
    numeric = np.empty((len(NUMERIC_FIELDS), n), dtype=np.float64)
    for i, name in enumerate(NUMERIC_FIELDS):
        if name not in columns:
            numeric[i] = np.nan
            continue
        col = derived[name]
        values = _floats(col)
        numeric[i] = values[order]
    frame = derived.iloc[order].reset_index(drop=True)
    codes = np.zeros((len(CODED_FIELDS), n), dtype=np.int32)
    vocab: dict[str, list[object]] = {}
    for i, name in enumerate(CODED_FIELDS):
        if FIELDS[name].kind == "bool":
            vocab[name] = [False, True]
            if name not in columns:
                continue  # all unknown: code 0
            col = frame[name]
            if not isinstance(col.dtype, pd.BooleanDtype):
                col = col.astype("boolean")
            values = col.to_numpy(dtype=object, na_value=None)
            codes[i] = [0 if v is None else 2 if v else 1 for v in values]
        else:
            strings = _strings(frame[name]) if name in columns else [None] * n
            uniques = sorted({v for v in strings if v is not None})
            index = {v: k for k, v in enumerate(uniques, start=1)}
            codes[i] = [0 if v is None else index[v] for v in strings]
            vocab[name] = list(uniques)
    return _firm_columns(frame, order, numeric, codes, vocab, region_sorted)
