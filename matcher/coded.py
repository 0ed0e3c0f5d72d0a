"""Verdict pairs as codes: the columnar form detection diffs, stores and enqueues.

Why: a policy published to a million firms yields a million (firm, policy) rows whose
texts (status, the fields to fill in, the conditions met) take a few dozen distinct
values. Spelled out as Python strings, comparing, joining and serialising those rows
took seconds (string hashing, pandas' Arrow-string conversion, Arrow string gathers).
As categoricals (integer codes + the distinct texts once) the same work is integer
gathers and comparisons, and the texts become Arrow dictionary columns as they are.

Only ``uscc`` stays one string per row: it is the key, and distinct per firm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

# Status categories, fixed so that codes compare across tables without recoding.
STATUSES: tuple[str, ...] = ("absent", "ineligible", "undetermined", "eligible")
ABSENT, INELIGIBLE, UNDETERMINED, ELIGIBLE = range(4)
TEXTS: tuple[str, ...] = ("unknown", "met", "review")


def categorical(values: Any) -> pd.Categorical:
    """Texts as a categorical with "" for missing (a no-op for a clean categorical)."""
    if isinstance(values, pd.Categorical) and not (values.codes < 0).any():
        return values
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return categorical(values.array)
    arr = pd.Series(values, dtype=object)
    arr = arr.where(arr.notna(), "").astype(str)
    codes, uniq = pd.factorize(arr.to_numpy(dtype=object), sort=False)
    return pd.Categorical.from_codes(codes.astype(np.int32), pd.Index(uniq, dtype=object))


def from_codes(codes: np.ndarray, texts: Sequence[str]) -> pd.Categorical:
    """A categorical from codes into ``texts``, which may repeat a text.

    Repeats are merged (each distinct text gets one code) so that equal texts always
    have equal codes: the diff compares codes.
    """
    uniq, inverse = np.unique(np.asarray(list(texts), dtype=object).astype(str),
                              return_inverse=True)
    return pd.Categorical.from_codes(inverse.astype(np.int32)[np.asarray(codes)],
                                     pd.Index(uniq.astype(object), dtype=object))


def status_codes(values: Any, fill: int = INELIGIBLE) -> np.ndarray:
    """Status names (or a categorical of them) as int8 codes of :data:`STATUSES`."""
    cat = categorical(values)
    lookup = np.array([STATUSES.index(c) if c in STATUSES else -1 for c in cat.categories]
                      + [fill], dtype=np.int8)
    out = lookup[cat.codes]
    if (out < 0).any():
        bad = cat.categories[int(np.flatnonzero(lookup < 0)[0])]
        raise ValueError(f"unknown verdict status {bad!r}")
    return out


def recode(cat: pd.Categorical, categories: pd.Index) -> np.ndarray:
    """Codes of ``cat`` in ``categories`` (which must hold all of its texts)."""
    if cat.categories.equals(categories):
        return np.asarray(cat.codes)
    lookup = np.append(categories.get_indexer(cat.categories), -1).astype(np.int32)
    out = lookup[cat.codes]
    if len(cat.categories) and (lookup[:-1] < 0).any():
        raise ValueError("a text is missing from the target categories")
    return out


def union(*cats: pd.Categorical) -> pd.Index:
    """The categories of several categoricals together, first-seen order."""
    return pd.Index(pd.unique(np.concatenate([np.asarray(c.categories, dtype=object)
                                              for c in cats] + [np.array([""], object)])),
                    dtype=object)


def take_text(cat: pd.Categorical, idx: np.ndarray, categories: pd.Index | None = None,
              fill: str = "") -> np.ndarray:
    """Codes (in ``categories``, default ``cat``'s plus ``fill``) at rows ``idx``; ``fill``
    where ``idx`` is -1 — the gather of a join side, without a string per row."""
    cats = categories if categories is not None else union(cat)
    codes = recode(cat, cats) if len(cat) else np.zeros(0, dtype=np.int32)
    fill_code = int(cats.get_loc(fill))
    out = np.full(len(idx), fill_code, dtype=np.int32)
    hit = idx >= 0
    out[hit] = codes[idx[hit]]
    return out


@dataclass(frozen=True)
class MatchCodes:
    """Verdict pairs, one row each: the columns of ``matcher.changes.MatchColumns`` coded.

    ``status`` holds int8 codes of :data:`STATUSES`; ``policy_id`` and the texts are
    categoricals; ``amount`` is float yuan (NaN: not computable). Two optional per-row
    columns belong to stored snapshots: ``version`` and ``told`` (proleptic ordinal of the
    day the firm was last told).
    """

    uscc: np.ndarray
    policy_id: pd.Categorical
    status: np.ndarray
    amount: np.ndarray
    unknown: pd.Categorical
    met: pd.Categorical
    review: pd.Categorical
    version: np.ndarray | None = None
    told: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.uscc)

    @classmethod
    def empty(cls, with_state: bool = False) -> MatchCodes:
        none = pd.Categorical.from_codes(np.zeros(0, np.int32), pd.Index([""], dtype=object))
        return cls(np.empty(0, dtype=object), none, np.zeros(0, np.int8), np.zeros(0), none,
                   none, none, np.zeros(0, np.int64) if with_state else None,
                   np.zeros(0, np.int64) if with_state else None)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> MatchCodes:
        """From a verdict table (``MatchColumns``; missing text columns are "")."""
        n = len(frame)

        def text(name: str) -> pd.Categorical:
            return categorical(frame[name] if name in frame.columns else [""] * n)

        amount = (pd.to_numeric(frame["amount"], errors="coerce").to_numpy(dtype=np.float64)
                  if "amount" in frame.columns else np.full(n, np.nan))
        return cls(frame["uscc"].astype(object).to_numpy(dtype=object),
                   categorical(frame["policy_id"]), status_codes(frame["status"]), amount,
                   text("unknown"), text("met"), text("review"))

    def to_frame(self) -> pd.DataFrame:
        """The table with texts spelled out (``MatchColumns`` order; ``unmet`` is "")."""
        n = len(self)
        return pd.DataFrame({
            "uscc": self.uscc, "policy_id": np.asarray(self.policy_id, dtype=object),
            "status": np.asarray(STATUSES, dtype=object)[self.status] if n else
            np.empty(0, dtype=object),
            "amount": self.amount.astype(np.float64),
            "unmet": np.full(n, "", dtype=object),
            "unknown": np.asarray(self.unknown, dtype=object),
            "met": np.asarray(self.met, dtype=object),
            "review": np.asarray(self.review, dtype=object),
        })

    def take(self, rows: np.ndarray) -> MatchCodes:
        """The rows at positions ``rows`` (an index array or a boolean mask)."""
        if rows.dtype == bool and len(rows) == len(self) and rows.all():
            return self
        return replace(self, **{f.name: _take(getattr(self, f.name), rows)
                                for f in fields(self)})


def _take(values: Any, rows: np.ndarray) -> Any:
    if values is None:
        return None
    if isinstance(values, pd.Categorical):  # codes gathered as they are: no validation
        return pd.Categorical.from_codes(values.codes[rows], dtype=values.dtype,
                                         validate=False)
    return values[rows]


def concat(parts: Sequence[MatchCodes]) -> MatchCodes:
    """Rows of several code tables, in order (categories unified)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return MatchCodes.empty()
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    for f in fields(MatchCodes):
        values = [getattr(p, f.name) for p in parts]
        if isinstance(values[0], pd.Categorical):
            cats = union(*values)
            out[f.name] = pd.Categorical.from_codes(
                np.concatenate([recode(v, cats) for v in values]), cats)
        elif any(v is None for v in values):
            out[f.name] = None
        else:
            out[f.name] = np.concatenate(values)
    return MatchCodes(**out)
