"""Contract profile records (DATA.md §1) ↔ rows of the ``firms`` table.

A record is what ``profiles.read.normalize_profile`` returns: yuan, fractions, ISO
dates, canonical qualification names; an absent key means unknown. A row has one column
per contract field and ``None`` (SQL NULL) for unknown, so unknown survives the round
trip and is never turned into zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from matcher.fields import (
    BOOL_PROFILE_FIELDS,
    INTEGER_FIELDS,
    NUMERIC_PROFILE_FIELDS,
    PROFILE_FIELDS,
)

JSON_FIELDS: frozenset[str] = frozenset({"qualifications", "tags"})
META_COLUMNS: tuple[str, ...] = ("as_of", "imported_at", "import_id", "revision")


def record_to_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for one validated record (missing fields become NULL)."""
    row: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        v = record.get(name)
        if v is None:
            row[name] = None
        elif name == "established_on":
            row[name] = v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
        elif name in INTEGER_FIELDS:
            row[name] = int(round(float(v)))
        elif name in NUMERIC_PROFILE_FIELDS:
            row[name] = float(v)
        else:
            row[name] = v
    return row


def row_to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The contract record of a row: unknown fields are left out, as in the input files."""
    rec: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        v = row.get(name)
        if v is None:
            continue
        if name == "established_on":
            v = v.isoformat() if isinstance(v, dt.date) else str(v)[:10]
        elif name in INTEGER_FIELDS:
            v = int(v)
        elif name in NUMERIC_PROFILE_FIELDS:
            v = float(v)
        elif name in BOOL_PROFILE_FIELDS:
            v = bool(v)
        rec[name] = v
    return rec


def frame_from_rows(columns: Mapping[str, Iterable[Any]], n: int) -> pd.DataFrame:
    """A frame with the dtypes of ``profiles.read.profiles_frame`` from column-wise values.

    Built column by column (not via a list of dicts) so a million stored firms load
    without a million intermediate dictionaries.
    """
    data: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        values = list(columns.get(name, [None] * n))
        if name in NUMERIC_PROFILE_FIELDS:
            data[name] = np.array(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
        elif name in BOOL_PROFILE_FIELDS:
            data[name] = pd.array([None if v is None else bool(v) for v in values],
                                  dtype="boolean")
        elif name in JSON_FIELDS:
            data[name] = pd.Series(values, dtype=object)
        elif name == "established_on":
            data[name] = pd.array(
                [None if v is None else (v.isoformat() if isinstance(v, dt.date) else str(v))
                 for v in values],
                dtype="string",
            )
        else:
            data[name] = pd.array(values, dtype="string")
    return pd.DataFrame(data)
