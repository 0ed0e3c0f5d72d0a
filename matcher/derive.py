"""Derived attributes (DATA.md §1): age, R&D intensity, SME size class, 规上 status.

Each is computed for all firms at once and is unknown (NaN / NA) whenever an input it
needs is unknown — a missing revenue never becomes a zero ratio.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from matcher.fields import QUALIFICATIONS, SIZE_CLASSES

_QUAL_BIT = {name: i for i, name in enumerate(QUALIFICATIONS)}

# 规模以上 revenue thresholds in yuan, by GB/T 4754 prefix (longest prefix wins).
ABOVE_SCALE_THRESHOLDS: dict[str, float] = {
    "B": 20_000_000, "C": 20_000_000, "D": 20_000_000,
    "F51": 20_000_000, "F52": 5_000_000,
    "H61": 2_000_000, "H62": 2_000_000,
    "*": 10_000_000,
}


def age_years(established_on: pd.Series, as_of: dt.date) -> pd.Series:
    """Whole years completed on ``as_of``; the anniversary day counts (届满, 民法典第二百零二条).

    A firm founded on 29 February completes its year on 28 February of a common year,
    the month's last day, since the due month has no corresponding day.
    """
    d = pd.to_datetime(established_on, errors="coerce")
    year, month, day = d.dt.year, d.dt.month, d.dt.day
    is_leap = as_of.year % 4 == 0 and (as_of.year % 100 != 0 or as_of.year % 400 == 0)
    if not is_leap:
        day = day.where(~((month == 2) & (day == 29)), 28)
    before = (month > as_of.month) | ((month == as_of.month) & (day > as_of.day))
    age = as_of.year - year - before.astype("float64")
    age = age.astype("float64")
    age[age < 0] = np.nan  # founded after as_of: no age yet
    return age


def rd_ratio(rd_expense: pd.Series, revenue: pd.Series) -> pd.Series:
    """研发费用 / 营业收入 as a fraction; unknown when revenue is unknown or not positive."""
    rev = revenue.astype("float64")
    return (rd_expense.astype("float64") / rev.where(rev > 0)).astype("float64")


def rd_increase(rd_expense: pd.Series, rd_expense_prev: pd.Series) -> pd.Series:
    """新增研发投入 in yuan (may be negative)."""
    return (rd_expense.astype("float64") - rd_expense_prev.astype("float64")).astype("float64")


def _longest_prefix(code: str, prefixes: Sequence[str]) -> str | None:
    """The longest listed prefix of ``code`` (``*`` as fallback); None if ``code`` is too coarse.

    A bare section letter such as ``F`` could be 批发业 (F51) or 零售业 (F52): when a
    more specific group lies below ``code``, the group cannot be told.
    """
    if any(p != "*" and len(p) > len(code) and p.startswith(code) for p in prefixes):
        return None
    best = max((p for p in prefixes if p != "*" and code.startswith(p)), key=len, default="")
    return best or ("*" if "*" in prefixes else None)


def _factorize(codes: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Codes as indices into their distinct values, -1 (the last slot) for unknown.

    Per-code work (prefix lookups) then runs once per distinct code, not once per firm.
    """
    k, uniques = pd.factorize(codes.astype("string"), use_na_sentinel=True)
    return k, list(uniques)


def size_groups(industry_code: pd.Series, standard: pd.DataFrame) -> np.ndarray:
    """Row of ``standard`` (longest GB/T 4754 prefix) per firm; -1 when unknown."""
    groups: dict[str, int] = {}
    for i, prefixes in enumerate(standard["gbt4754_prefixes"]):
        for p in str(prefixes).split():
            groups[p] = i
    prefixes = list(groups)
    k, uniq = _factorize(industry_code)
    per_code = [-1 if (hit := _longest_prefix(str(c), prefixes)) is None else groups[hit]
                for c in uniq]
    return np.array([*per_code, -1], dtype=np.int64)[k]


SIZE_METRICS: dict[str, str] = {"employees": "employees", "revenue": "revenue",
                                "total_assets": "assets"}  # profile field -> table column


def size_metrics_used(industry_code: pd.Series, standard: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per profile metric, whether each firm's size group uses it (False when unknown)."""
    gidx = size_groups(industry_code, standard)
    known = gidx >= 0
    out = {}
    for field, col in SIZE_METRICS.items():
        used = np.zeros(len(standard), dtype=bool)
        for tier in ("small", "medium", "large"):
            used |= standard[f"{tier}_{col}"].notna().to_numpy()
        out[field] = known & used[np.where(known, gidx, 0)]
    return out


def size_class(
    industry_code: pd.Series,
    employees: pd.Series,
    revenue: pd.Series,
    total_assets: pd.Series,
    standard: pd.DataFrame,
) -> pd.Series:
    """中小企业划型 per 工信部联企业〔2011〕300号 (``size_standard.csv``).

    ``large`` when the firm reaches every non-empty ``large_*`` bound, else ``medium``
    on every ``medium_*`` bound, else ``small`` on every ``small_*`` bound, else
    ``micro``. Unknown when the group is unknown or any metric it uses is.
    """
    gidx = size_groups(industry_code, standard)
    metrics = {
        "employees": employees.astype("float64").to_numpy(),
        "revenue": revenue.astype("float64").to_numpy(),
        "assets": total_assets.astype("float64").to_numpy(),
    }
    n = len(gidx)
    known = gidx >= 0
    safe = np.where(known, gidx, 0)
    reach: dict[str, np.ndarray] = {}
    for tier in ("small", "medium", "large"):
        ok = np.ones(n, dtype=bool)
        for m, values in metrics.items():
            bound = standard[f"{tier}_{m}"].astype("float64").to_numpy()[safe]
            with np.errstate(invalid="ignore"):
                ok &= np.isnan(bound) | (values >= bound)
        reach[tier] = ok
    level = np.where(
        reach["large"], 3, np.where(reach["medium"], 2, np.where(reach["small"], 1, 0))
    )
    for m, values in metrics.items():
        used = np.zeros(len(standard), dtype=bool)
        for tier in ("small", "medium", "large"):
            used |= standard[f"{tier}_{m}"].notna().to_numpy()
        known &= ~(used[safe] & np.isnan(values))
    names = np.array(SIZE_CLASSES, dtype=object)[level]
    out = pd.Series(names, index=industry_code.index, dtype="object")
    out[~known] = None
    return out.astype("string")


def above_scale(industry_code: pd.Series, revenue: pd.Series) -> pd.Series:
    """规模以上 by the revenue thresholds of DATA.md §1 (boolean with NA for unknown).

    A bare section letter whose groups have different thresholds (``F``: 批发 20M,
    零售 5M) is decided where all of them agree and unknown in between. (Sections F and H
    consist of exactly the listed divisions, so their groups cover them.)
    """
    prefixes = [p for p in ABOVE_SCALE_THRESHOLDS if p != "*"]
    k, uniq = _factorize(industry_code)
    lo_u = np.full(len(uniq) + 1, np.nan)  # the last slot is for unknown codes
    hi_u = np.full(len(uniq) + 1, np.nan)
    for j, c in enumerate(map(str, uniq)):
        finer = [p for p in prefixes if len(p) > len(c) and p.startswith(c)]
        if finer:
            cands = [ABOVE_SCALE_THRESHOLDS[p] for p in finer]
        else:
            best = max((p for p in prefixes if c.startswith(p)), key=len, default="*")
            cands = [ABOVE_SCALE_THRESHOLDS[best]]
        lo_u[j], hi_u[j] = min(cands), max(cands)
    lo, hi = lo_u[k], hi_u[k]
    rev = revenue.astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        yes = rev >= hi
        no = rev < lo
    out = pd.array(yes, dtype="boolean")
    out[~(yes | no)] = pd.NA
    return pd.Series(out, index=industry_code.index)


def qualification_mask(qualifications: pd.Series, as_of: dt.date) -> np.ndarray:
    """Bit mask of canonical qualifications valid on ``as_of``; -1 where the list is unknown.

    ``[]`` is "known: none" (mask 0); a missing list is unknown. Bounds are inclusive
    and open when absent. Only the certificates themselves are looked at one by one
    (a few per hundred firms); firms are handled as whole arrays.
    """
    iso = as_of.isoformat()
    values = qualifications.to_numpy(dtype=object)
    unknown = pd.isna(values)
    out = np.where(unknown, -1, 0).astype(np.int64)
    known = np.flatnonzero(~unknown)
    items = pd.Series(values[known], index=known, dtype=object).explode()
    items = items[items.notna()]  # an empty list explodes to one NaN row
    certs = items.to_numpy(dtype=object)
    bit = np.array([_QUAL_BIT.get(q.get("name"), -1) for q in certs], dtype=np.int64)
    start = np.array([str(v) if (v := q.get("valid_from")) else "" for q in certs], dtype=str)
    end = np.array([str(v) if (v := q.get("valid_until")) else "" for q in certs], dtype=str)
    valid = (bit >= 0) & ~(start > iso) & ~((end != "") & (end < iso))
    firm = items.index.to_numpy(dtype=np.int64)[valid]
    np.bitwise_or.at(out, firm, np.left_shift(1, bit[valid]))
    return out


def derive(profiles: pd.DataFrame, as_of: dt.date, size_standard: pd.DataFrame) -> pd.DataFrame:
    """Add every derived attribute to a copy of ``profiles`` (contract columns, yuan).

    A few firms (one firm's recommendations on request) take a row-by-row path that
    gives the same frame without the fixed cost of pandas' column operations, which is
    most of the time for one row; any value it is not sure to read exactly as the
    column path does sends the call to the column path.
    """
    if 0 < len(profiles) <= SMALL_ROWS:
        small = _derive_small(profiles, as_of, size_standard)
        if small is not None:
            return small
    return derive_columns(profiles, as_of, size_standard)


def derive_columns(
    profiles: pd.DataFrame, as_of: dt.date, size_standard: pd.DataFrame
) -> pd.DataFrame:
    """:func:`derive` by whole-column operations, for any number of firms."""
    out = profiles.copy(deep=False)  # only adds columns: the input's stay shared, unchanged
    out["age_years"] = age_years(out["established_on"], as_of)
    out["rd_ratio"] = rd_ratio(out["rd_expense"], out["revenue"])
    out["rd_increase"] = rd_increase(out["rd_expense"], out["rd_expense_prev"])
    out["size_class"] = size_class(
        out["industry_code"], out["employees"], out["revenue"], out["total_assets"], size_standard
    )
    out["above_scale"] = above_scale(out["industry_code"], out["revenue"])
    out["qualification_mask"] = qualification_mask(out["qualifications"], as_of)
    return out


# -- few firms: row by row -------------------------------------------------------------
SMALL_ROWS = 8  # firms; up to this many take the row-by-row path of ``derive``
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_SIZE_METRICS = (("employees", "employees"), ("revenue", "revenue"), ("assets", "total_assets"))


def _floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = frame[name]
    return col.to_numpy() if col.dtype == np.float64 else col.astype("float64").to_numpy()


def _strings(col: pd.Series) -> list[str | None]:
    """Values as ``astype("string")`` gives them, None for missing."""
    s = col if isinstance(col.dtype, pd.StringDtype) else col.astype("string")
    return [None if v is None else str(v) for v in s.to_numpy(dtype=object, na_value=None)]


def _ages_small(values: list[str | None], as_of: dt.date) -> np.ndarray | None:
    """:func:`age_years` for ISO dates; None when any value needs pandas' own parser.

    Only ``YYYY-MM-DD`` of a real day within pandas' nanosecond range is read here: every
    such value parses to the same day under any format pandas may infer for the column.
    """
    is_leap = as_of.year % 4 == 0 and (as_of.year % 100 != 0 or as_of.year % 400 == 0)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
            continue
        m = _ISO_DATE.match(v)
        if m is None:
            return None
        year, month, day = (int(x) for x in m.groups())
        if not 1678 <= year <= 2261:
            return None
        try:
            dt.date(year, month, day)
        except ValueError:
            return None
        if not is_leap and month == 2 and day == 29:
            day = 28
        before = month > as_of.month or (month == as_of.month and day > as_of.day)
        age = float(as_of.year - year - int(before))
        out[i] = np.nan if age < 0 else age
    return out


def _as_float(value: object) -> float:
    """One value as ``astype("float64")`` reads it: missing → NaN."""
    return np.nan if value is None or value is pd.NA else float(value)  # type: ignore[arg-type]


def _size_small(
    codes: list[str | None], metrics: dict[str, np.ndarray], standard: pd.DataFrame
) -> list[str | None]:
    """:func:`size_class` for a few firms (same groups, bounds and unknowns)."""
    table = standard.to_numpy(dtype=object)  # one conversion instead of one per column
    column = {name: j for j, name in enumerate(standard.columns)}
    groups: dict[str, int] = {}
    for i, prefixes in enumerate(table[:, column["gbt4754_prefixes"]]):
        for p in str(prefixes).split():
            groups[p] = i
    prefixes = list(groups)
    tiers = ("small", "medium", "large")
    out: list[str | None] = []
    for r, code in enumerate(codes):
        group = None if code is None else _longest_prefix(code, prefixes)
        if group is None:
            out.append(None)
            continue
        row = table[groups[group]]
        bound = {
            (t, m): _as_float(row[column[f"{t}_{m}"]]) for t in tiers for m, _ in _SIZE_METRICS
        }
        reach = [
            all(np.isnan(bound[(t, m)]) or metrics[m][r] >= bound[(t, m)] for m, _ in _SIZE_METRICS)
            for t in tiers
        ]
        level = 3 if reach[2] else 2 if reach[1] else 1 if reach[0] else 0
        # A metric the standard uses for the group at any tier must be known.
        used = {m for (t, m), b in bound.items() if not np.isnan(b)}
        known = not any(np.isnan(metrics[m][r]) for m in used)
        out.append(SIZE_CLASSES[level] if known else None)
    return out


def _above_small(codes: list[str | None], revenue: np.ndarray) -> list[bool | None]:
    """:func:`above_scale` for a few firms (same thresholds, unknown in between)."""
    prefixes = [p for p in ABOVE_SCALE_THRESHOLDS if p != "*"]
    out: list[bool | None] = []
    for code, rev in zip(codes, revenue, strict=True):
        if code is None:
            out.append(None)
            continue
        finer = [p for p in prefixes if len(p) > len(code) and p.startswith(code)]
        if finer:
            cands = [ABOVE_SCALE_THRESHOLDS[p] for p in finer]
        else:
            best = max((p for p in prefixes if code.startswith(p)), key=len, default="*")
            cands = [ABOVE_SCALE_THRESHOLDS[best]]
        if rev >= max(cands):
            out.append(True)
        elif rev < min(cands):
            out.append(False)
        else:
            out.append(None)  # between two groups' thresholds, or revenue unknown (NaN)
    return out


def _derive_small(
    profiles: pd.DataFrame, as_of: dt.date, standard: pd.DataFrame
) -> pd.DataFrame | None:
    """:func:`derive_columns` for a few firms, or None to use it (non-ISO dates)."""
    ages = _ages_small(_strings(profiles["established_on"]), as_of)
    if ages is None:
        return None
    industry = _strings(profiles["industry_code"])
    revenue = _floats(profiles, "revenue")
    rd = _floats(profiles, "rd_expense")
    metrics = {
        m: _floats(profiles, column) for m, column in _SIZE_METRICS
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = rd / np.where(revenue > 0, revenue, np.nan)
    added = {
        "age_years": ages,
        "rd_ratio": ratio,
        "rd_increase": rd - _floats(profiles, "rd_expense_prev"),
        "size_class": pd.array(_size_small(industry, metrics, standard), dtype="string"),
        "above_scale": pd.array(_above_small(industry, revenue), dtype="boolean"),
        "qualification_mask": qualification_mask(profiles["qualifications"], as_of),
    }
    if any(name in profiles.columns for name in added):
        out = profiles.copy(deep=False)  # derived again: replace in place, as derive_columns
        for name, values in added.items():
            out[name] = values
        return out
    # One concatenation costs a third of six column insertions.
    return pd.concat([profiles, pd.DataFrame(added, index=profiles.index)], axis=1)
