"""Validate a columnar chunk of firm profiles (Arrow) at the speed a province-wide run needs.

``profiles.read.normalize_profile`` checks one record at a time (about 50 µs a firm: close
to a minute for a million). Here every check runs over whole columns, and only the rows
that a fast check flags — or the few distinct values of a coded column — go through the
very same per-value validators of :mod:`profiles.read`, so the verdict on every value and
the error text are the record reader's, not a second set of rules. A property test holds
the two paths equal.

A bad record is reported as ``file:row N`` with its field and skipped; the rest go on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matcher.errors import PolicyMatchError, RecordError
from matcher.fields import (
    BOOL_PROFILE_FIELDS,
    INTEGER_FIELDS,
    NUMERIC_PROFILE_FIELDS,
    PROFILE_FIELDS,
    RATIO_FIELDS,
    TAX_CREDIT_RATINGS,
)
from profiles.headers import map_header

# The per-value validators of the record reader: one definition of what a valid value is.
from profiles.read import (
    parse_bool,
    parse_date,
    parse_industry_code,
    parse_number,
    parse_qualifications,
    parse_region_code,
    parse_tags,
)
from profiles.uscc import uscc_problem

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_W31 = np.array((1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28), dtype=np.int64)
_W11 = np.array((3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_VALUE = np.full(256, -1, dtype=np.int64)  # byte -> USCC alphabet value, -1 if not in it
for _i, _c in enumerate(_ALPHABET):
    _VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)  # GB 11714 value: digits, A=10 … Z=35
for _b in range(48, 58):
    _ORG_VALUE[_b] = _b - 48
for _b in range(65, 91):
    _ORG_VALUE[_b] = _b - 55


@dataclass
class ColumnsReport:
    """A chunk as a contract frame (``profiles_frame`` dtypes) plus what was skipped."""

    frame: pd.DataFrame
    rows: np.ndarray  # int64: chunk row number of each frame row
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordError] = field(default_factory=list)


def _blank_mask(col: pa.ChunkedArray) -> np.ndarray:
    """None, NaN or a blank string: unknown, never an error (as in the record reader)."""
    null = col.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(col.type):
        return null | pc.is_nan(col).fill_null(True).to_numpy(zero_copy_only=False)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        blank = pc.equal(pc.utf8_trim_whitespace(col), "").fill_null(True)
        return null | blank.to_numpy(zero_copy_only=False)
    return null


def valid_uscc_mask(codes: pa.Array) -> np.ndarray:
    """Vectorised GB 32100 check (both check digits) of stripped, upper-cased code strings.

    False means "not known to be valid": such rows go to ``uscc_problem`` for the verdict
    and the message.
    """
    n = len(codes)
    ok = np.zeros(n, dtype=bool)
    lengths = pc.binary_length(codes).fill_null(-1).to_numpy(zero_copy_only=False)
    cand = np.flatnonzero(lengths == 18)
    if len(cand) == 0:
        return ok
    picked = codes.take(pa.array(cand)).cast(pa.large_binary())
    offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64)[
        picked.offset: picked.offset + len(picked) + 1]
    data = np.frombuffer(picked.buffers()[2], dtype=np.uint8)
    b = data[offsets[0]: offsets[-1]].reshape(len(cand), 18)
    vals = _VALUE[b]
    good = ((b[:, :8] >= 48) & (b[:, :8] <= 57)).all(1) & (vals >= 0).all(1)
    total = (np.where(vals[:, :17] < 0, 0, vals[:, :17]) * _W31).sum(1)
    good &= (31 - total % 31) % 31 == vals[:, 17]
    org = 11 - (_ORG_VALUE[b[:, 8:16]] * _W11).sum(1) % 11
    expected = np.where(org == 10, ord("X"), np.where(org == 11, ord("0"), org + 48))
    good &= b[:, 16] == expected
    ok[cand] = good
    return ok



def _bool_or_fail(value: Any, field: str) -> Any:
    return parse_bool(value, field, "?")


def _date_or_fail(value: Any, field: str) -> Any:
    return parse_date(value, field, "?")

class _Rows:
    """First problem per row, like the record reader which stops at the first bad field."""

    def __init__(self, n: int, where: Callable[[int], str]) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.errors: dict[int, RecordError] = {}
        self.where = where

    def fail(self, i: int | np.integer, field_name: str | None, message: str) -> None:
        row = int(i)  # positions often come from numpy
        if not self.bad[row]:
            self.bad[row] = True
            self.errors[row] = RecordError(self.where(row), field_name, message)

    def fail_error(self, i: int | np.integer, err: RecordError) -> None:
        self.fail(i, err.field, err.message)


def _strings(col: pa.ChunkedArray) -> np.ndarray:
    return np.array(col.to_pylist(), dtype=object)


# Exactly the characters Python's str.strip() removes, so trimming in Arrow gives the
# record reader's values without a Python string per row.
_PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
                  "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ)


def _stripped(col: pa.ChunkedArray, todo: np.ndarray) -> pa.Array:
    """``str.strip()`` of a text column in Arrow; rows not to do are null."""
    text = pc.utf8_trim(col.combine_chunks().cast(pa.large_string()), _PY_WHITESPACE)
    return pc.if_else(pa.array(todo), text, pa.scalar(None, pa.large_string()))


def _per_unique(
    col: pa.ChunkedArray, todo: np.ndarray, check: Callable[[Any], Any], rows: _Rows,
    as_text: bool = False,
) -> Any:
    """Apply a per-value validator once per distinct value and map results back.

    Coded columns (regions, industries, dates, ratings, flags) hold a few thousand distinct
    values among a million firms, so this costs one dictionary encoding plus a few thousand
    calls of the record reader's own validator. With ``as_text`` the (text) results come
    back as an Arrow array, which the frame takes without a Python string per row.
    """
    n = len(todo)
    out: Any = np.full(n, None, dtype=object)
    if n == 0 or not todo.any():
        return out
    enc = pc.dictionary_encode(col.combine_chunks())
    indices = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    results = np.full(len(enc.dictionary) + 1, None, dtype=object)  # last slot: null
    failures: dict[int, RecordError] = {}
    for k, v in enumerate(enc.dictionary.to_pylist()):
        try:
            results[k] = check(v)
        except RecordError as e:
            failures[k] = e
    if as_text:
        slot = np.where(todo & (indices >= 0), indices, len(results) - 1)
        out = pa.array(results, type=pa.large_string()).take(pa.array(slot))
    else:
        out[todo] = results[indices[todo]]
    if failures:
        bad_code = np.zeros(len(results), dtype=bool)
        bad_code[list(failures)] = True
        for i in np.flatnonzero(todo & bad_code[indices]):
            rows.fail_error(int(i), failures[int(indices[i])])
    return out


def _numeric(
    col: pa.ChunkedArray, name: str, factor: float, todo: np.ndarray, rows: _Rows
) -> np.ndarray:
    out = np.full(len(todo), np.nan)
    typ = col.type
    # A unit header (万元, 亿元 …) scales by decimal arithmetic in the record reader
    # (0.07 亿元 is exactly 7,000,000): a product in doubles could differ, so such columns
    # go through the reader's own parse_number, once per distinct value.
    if factor == 1.0 and (pa.types.is_integer(typ) or pa.types.is_floating(typ)
                          or pa.types.is_decimal(typ)):
        raw = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore", over="ignore"):
            v = raw * factor
            ok = np.isfinite(v) & (v >= 0)
            if name in RATIO_FIELDS:
                ok &= v <= 1
            if name in INTEGER_FIELDS:
                ok &= np.abs(v - np.round(v)) <= 1e-9
                v = np.round(v)
        good = todo & ok
        out[good] = v[good]
        pylist = None
        for i in np.flatnonzero(todo & ~ok):  # the slow path tells what is wrong (or accepts)
            if pylist is None:
                pylist = col.to_pylist()
            try:
                out[i] = parse_number(pylist[i], name, factor, rows.where(int(i)))
            except RecordError as e:
                rows.fail_error(i, e)
        return out
    res = _per_unique(col, todo, lambda x: parse_number(x, name, factor, "?"), rows)
    good = todo & ~rows.bad
    out[good] = res[good].astype(np.float64)
    return out


def _fix_where(rows: _Rows) -> None:
    """Per-unique checks were made with a placeholder location; give each error its row."""
    for i, err in list(rows.errors.items()):
        if err.where == "?":
            rows.errors[i] = RecordError(rows.where(i), err.field, err.message)


def frame_from_arrow(table: pa.Table, source_name: str, first_row: int = 1) -> ColumnsReport:
    """Validate every column of ``table`` and build the contract frame of its good rows.

    ``first_row`` is the 1-based file row of the table's first row, so errors point at the
    right place in the whole file.
    """
    n = table.num_rows
    mapping: dict[str, tuple[str, float]] = {}
    warnings: list[RecordError] = []
    seen_fields: set[str] = set()
    for col_name in table.column_names:
        try:
            fld, factor = map_header(col_name)
        except ValueError as e:
            raise PolicyMatchError(f"{source_name}: {e}") from None
        if fld is None:
            warnings.append(RecordError(f"{source_name}:header", col_name,
                                        "not a contract field; column ignored"))
            continue
        if fld in seen_fields:
            raise PolicyMatchError(f"{source_name}: two columns map to field '{fld}'")
        seen_fields.add(fld)
        mapping[col_name] = (fld, factor)
    if "uscc" not in seen_fields:
        raise PolicyMatchError(
            f"{source_name}: no 统一社会信用代码/uscc column among {table.column_names}"
        )
    rows = _Rows(n, lambda i: f"{source_name}:row {first_row + i}")
    by_field = {fld: (table.column(c), factor) for c, (fld, factor) in mapping.items()}
    # uscc and name first, then the other fields in the file's column order.
    order = ["uscc", "name"] + [f for f, _ in mapping.values() if f not in ("uscc", "name")]
    data: dict[str, Any] = {}
    qual_warnings: list[RecordError] = []
    for fld in order:
        if fld not in by_field:  # no name column at all: every record fails, as it would
            for i in range(n):
                rows.fail(i, "name", "every firm needs a name (企业名称)")
            continue
        col, factor = by_field[fld]
        if fld == "uscc":
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                cleaned_arr = pc.utf8_upper(pc.utf8_trim_whitespace(col.combine_chunks()))
                ok = valid_uscc_mask(cleaned_arr)
                odd = np.flatnonzero(~ok)
                odd_values = cleaned_arr.take(pa.array(odd)).to_pylist()
                data["uscc"] = cleaned_arr
            else:  # numbers or anything else: every row is told what is wrong
                cleaned = np.array(col.to_pylist(), dtype=object)
                odd = np.arange(n)
                odd_values = list(cleaned)
                data["uscc"] = cleaned
            for i, code in zip(odd.tolist(), odd_values, strict=True):
                problem = uscc_problem(code)
                if problem:
                    rows.fail(int(i), "uscc", problem)
            continue
        blank = _blank_mask(col)
        todo = ~blank & ~rows.bad
        if fld == "name" and _is_text(col.type):  # a text column: only blanks fail
            for i in np.flatnonzero(blank).tolist():
                rows.fail(i, "name", "every firm needs a name (企业名称)")
            data["name"] = _stripped(col, ~blank)
        elif fld == "name":
            names = _strings(col)
            bad = blank | np.array([not isinstance(x, str) for x in names])
            for i in np.flatnonzero(bad).tolist():
                rows.fail(i, "name", "every firm needs a name (企业名称)")
            data["name"] = np.array(
                [x.strip() if isinstance(x, str) else None for x in names], dtype=object
            )
        elif fld in NUMERIC_PROFILE_FIELDS:
            data[fld] = _numeric(col, fld, factor, todo, rows)
        elif fld in BOOL_PROFILE_FIELDS:
            data[fld] = _per_unique(col, todo, partial(_bool_or_fail, field=fld), rows)
        elif fld == "region_code":
            data[fld] = _per_unique(col, todo, lambda x: parse_region_code(x, "?"),
                                    rows, as_text=True)
        elif fld == "industry_code":
            data[fld] = _per_unique(col, todo, lambda x: parse_industry_code(x, "?"),
                                    rows, as_text=True)
        elif fld == "established_on":
            data[fld] = _per_unique(col, todo, _established_on, rows, as_text=True)
        elif fld == "tax_credit_rating":
            data[fld] = _per_unique(col, todo, _rating, rows, as_text=True)
        elif fld == "qualifications" and _is_struct_list(col.type):
            data[fld] = _qualification_structs(col, todo, rows, qual_warnings)
        elif fld in ("qualifications", "tags"):
            data[fld] = _lists(col, fld, todo, rows, qual_warnings)
        elif _is_text(col.type):  # business_scope, products: text
            data[fld] = _stripped(col, todo)
        else:  # business_scope, products: anything but text fails
            values = np.array(col.to_pylist(), dtype=object)
            out = np.full(n, None, dtype=object)
            for i in np.flatnonzero(todo).tolist():
                if isinstance(values[i], str):
                    out[i] = values[i].strip()
                else:
                    rows.fail(i, fld, f"expected text, got {type(values[i]).__name__}")
            data[fld] = out
    _fix_where(rows)
    keep = np.flatnonzero(~rows.bad)
    frame = _contract_frame(data, keep)
    # Duplicates inside the chunk: the first occurrence wins, as in the record reader.
    dup = frame["uscc"].duplicated(keep="first").to_numpy()
    errors = [rows.errors[i] for i in sorted(rows.errors)]
    if dup.any():
        first: dict[str, int] = {}
        for pos, code in enumerate(frame["uscc"].to_numpy()):
            first.setdefault(code, pos)
        for pos in np.flatnonzero(dup).tolist():
            code = frame["uscc"].iat[pos]
            errors.append(RecordError(
                rows.where(int(keep[pos])), "uscc",
                f"duplicate {code} (first at {rows.where(int(keep[first[code]]))})",
            ))
        errors.sort(key=lambda e: int(e.where.rsplit(" ", 1)[1]))
        frame = frame[~dup].reset_index(drop=True)
        keep = keep[~dup]
    bad_rows = set(rows.errors)
    warnings += [w for w in qual_warnings if int(w.where.rsplit(" ", 1)[1]) - first_row
                 not in bad_rows]
    return ColumnsReport(frame=frame, rows=keep.astype(np.int64), errors=errors,
                         warnings=warnings)


def _established_on(v: Any) -> str:
    return parse_date(v, "established_on", "?")


def _rating(v: Any) -> str:
    s = str(v).strip().upper().removesuffix("级")
    if s not in TAX_CREDIT_RATINGS:
        raise RecordError("?", "tax_credit_rating", f"expected one of A, B, M, C, D, got {v!r}")
    return s


def _lists(
    col: pa.ChunkedArray, fld: str, todo: np.ndarray, rows: _Rows, warnings: list[RecordError]
) -> np.ndarray:
    """Qualification and tag lists: an empty list is "known: none", null is unknown."""
    n = len(todo)
    out = np.full(n, None, dtype=object)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = pc.list_value_length(col).fill_null(-1).to_numpy(zero_copy_only=False)
        out[todo & (lengths == 0)] = _new_lists(int((todo & (lengths == 0)).sum()))
        todo = todo & (lengths > 0)
    idx = np.flatnonzero(todo)
    if len(idx) == 0:
        return out
    values = col.take(pa.array(idx)).to_pylist()
    for i, v in zip(idx, values, strict=True):
        where = rows.where(int(i))
        try:
            if fld == "qualifications":
                if isinstance(v, list):
                    v = [{k: x for k, x in q.items() if x is not None} if isinstance(q, dict)
                         else q for q in v]
                out[i] = parse_qualifications(v, where, warnings)
            else:
                out[i] = parse_tags(v, where)
        except RecordError as e:
            rows.fail_error(i, e)
    return out


def _new_lists(n: int) -> np.ndarray:
    """``n`` distinct empty lists in an object array (rows whose list is known empty)."""
    return np.frompyfunc(lambda _: [], 1, 1)(np.empty(n, dtype=object)) if n else \
        np.empty(0, dtype=object)


def _is_struct_list(typ: pa.DataType) -> bool:
    return ((pa.types.is_list(typ) or pa.types.is_large_list(typ))
            and pa.types.is_struct(typ.value_type)
            and typ.value_type.get_field_index("name") >= 0)


def _unique_map(arr: pa.Array, fn: Callable[[Any], Any]) -> tuple[np.ndarray, np.ndarray]:
    """(results, ok) per element of ``arr``, computing ``fn`` once per distinct value.

    ``fn`` raises RecordError for a bad value; nulls map to (None, True).
    """
    enc = pc.dictionary_encode(arr)
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    vals = np.full(len(enc.dictionary) + 1, None, dtype=object)
    ok = np.ones(len(enc.dictionary) + 1, dtype=bool)
    for k, v in enumerate(enc.dictionary.to_pylist()):
        try:
            vals[k] = fn(v)
        except RecordError:
            ok[k] = False
    return vals[idx], ok[idx]


def _qualification_structs(
    col: pa.ChunkedArray, todo: np.ndarray, rows: _Rows, warnings: list[RecordError]
) -> np.ndarray:
    """Qualification lists stored as list<struct<name, level?, valid_from?, valid_until?>>.

    Every element is checked column-wise (names, levels and dates once per distinct
    value); a row whose list holds anything unusual — a bad level or date, an unknown
    name, a missing name — goes through the record reader's own ``parse_qualifications``, so
    errors and warnings are exactly the reader's.
    """
    from matcher.fields import QUALIFICATION_LEVELS
    from profiles.qualifications import canonical_qualification

    n = len(todo)
    arr = col.combine_chunks()
    out = np.full(n, None, dtype=object)
    lengths = pc.list_value_length(arr).fill_null(-1).to_numpy(zero_copy_only=False)
    out[todo & (lengths == 0)] = _new_lists(int((todo & (lengths == 0)).sum()))
    busy = todo & (lengths > 0)
    if not busy.any():
        return out
    flat = pc.list_flatten(arr)
    parent = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    names_raw = flat.field("name")
    names, _ = _unique_map(names_raw, lambda v: canonical_qualification(v) if isinstance(v, str)
                           else None)
    odd = pc.is_null(names_raw).to_numpy(zero_copy_only=False) | np.array(
        [x is None for x in names], dtype=bool)
    extra: dict[str, np.ndarray] = {}
    for key in ("level", "valid_from", "valid_until"):
        if flat.type.get_field_index(key) < 0:
            continue
        sub = flat.field(key)
        blank = pc.is_null(sub).to_numpy(zero_copy_only=False)
        if pa.types.is_string(sub.type) or pa.types.is_large_string(sub.type):
            blank |= pc.equal(pc.utf8_trim_whitespace(sub), "").fill_null(True).to_numpy(
                zero_copy_only=False)
        if key == "level":
            vals, ok = _unique_map(sub, lambda v: v if v in QUALIFICATION_LEVELS else _bad())
        else:
            vals, ok = _unique_map(sub, partial(_date_or_fail, field=key))
        odd |= ~blank & ~ok
        vals[blank] = None
        extra[key] = vals
    odd_rows = np.zeros(n, dtype=bool)
    odd_rows[parent[odd]] = True
    slow = busy & odd_rows
    fast = busy & ~odd_rows
    # fast rows: build the lists from the checked columns
    elems: list[dict[str, Any]] = []
    for j in range(len(names)):
        item: dict[str, Any] = {"name": names[j]}
        for key in ("level", "valid_from", "valid_until"):
            v = extra[key][j] if key in extra else None
            if v is not None:
                item[key] = v
        elems.append(item)
    starts = np.concatenate([[0], np.cumsum(np.where(lengths > 0, lengths, 0))])
    rows_fast = np.flatnonzero(fast)
    if len(rows_fast):  # a fresh list per row, built in one C loop
        out[rows_fast] = np.frompyfunc(lambda a, b: elems[a:b], 2, 1)(
            starts[rows_fast], starts[rows_fast + 1])
    if slow.any():
        idx = np.flatnonzero(slow)
        for i, v in zip(idx, arr.take(pa.array(idx)).to_pylist(), strict=True):
            v = [{k: x for k, x in q.items() if x is not None} if isinstance(q, dict) else q
                 for q in v]
            try:
                out[i] = parse_qualifications(v, rows.where(int(i)), warnings)
            except RecordError as e:
                rows.fail_error(int(i), e)
    return out


def _bad() -> Any:
    raise RecordError("?", None, "bad value")


def _contract_frame(data: dict[str, Any], keep: np.ndarray) -> pd.DataFrame:
    """The frame ``profiles.read.profiles_frame`` would build for the kept rows."""
    cols: dict[str, Any] = {}
    n = len(keep)
    for name in PROFILE_FIELDS:
        values = data.get(name)
        if name in NUMERIC_PROFILE_FIELDS:
            cols[name] = (np.full(n, np.nan) if values is None
                          else np.asarray(values, dtype=np.float64)[keep])
        elif name in BOOL_PROFILE_FIELDS:
            cols[name] = pd.array([None] * n if values is None else values[keep].tolist(),
                                  dtype="boolean")
        elif name in ("qualifications", "tags"):
            cols[name] = pd.Series([None] * n if values is None else values[keep].tolist(),
                                   dtype=object)
        elif isinstance(values, pa.Array | pa.ChunkedArray):  # text kept in Arrow
            cols[name] = pd.array(values.take(pa.array(keep)).cast(pa.large_string()),
                                  dtype="string")
        else:
            cols[name] = pd.array([None] * n if values is None else values[keep].tolist(),
                                  dtype="string")
    return pd.DataFrame(cols)


def is_blank_value(v: Any) -> bool:
    """The record reader's notion of an absent value."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, str) and v.strip() == ""
    )
