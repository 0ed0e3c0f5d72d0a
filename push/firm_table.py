"""Load the firms a policy can match from the store, fast: only needed columns, prefiltered.

A newly published policy has to be checked against every stored firm, and the budget is
about a second for a million. Two things make that possible without a warm cache:

* **Projection.** A policy reads a handful of fields (its leaves, the inputs of the
  derived attributes they use, its benefit bases); only those columns are read. The
  rest are filled with "unknown", which is what the engine would see for them anyway.
* **Pushdown.** A leaf that is a direct conjunct of the root (``all`` at the top) must
  be true or unknown for a firm to be eligible or undetermined, so its SQL form — with
  ``OR column IS NULL`` to keep the unknowns — goes into the ``WHERE`` clause. A firm it
  excludes is false on that leaf, hence ineligible: nothing a notification needs is
  lost, and most policies (a city, a sector, a revenue floor) skip most firms.

PostgreSQL rows come through ``COPY … TO STDOUT`` as CSV parsed by pyarrow; SQLite rows
through the raw cursor. Both end in the dtypes of ``profiles.read.profiles_frame``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from matcher.compile import region_prefixes
from matcher.conditions import AllOf, Criterion
from matcher.derive import derive
from matcher.encode import FirmColumns, encode
from matcher.fields import (
    BOOL_PROFILE_FIELDS,
    FIELDS,
    INTEGER_FIELDS,
    NUMERIC_PROFILE_FIELDS,
    PROFILE_FIELDS,
    TAX_CREDIT_RATINGS,
)
from matcher.missing import DERIVED_INPUTS
from matcher.policy import Policy
from profiles.reference import size_standard
from store.schema import firms

ALWAYS: tuple[str, ...] = ("uscc", "region_code")
JSON_FIELDS = ("qualifications", "tags")
_STORED = frozenset(PROFILE_FIELDS)


def needed_fields(policies: Iterable[Policy]) -> list[str]:
    """Stored profile columns that evaluating ``policies`` (and their amounts) reads."""
    need = set(ALWAYS)

    def add(field: str) -> None:
        if field in _STORED:
            need.add(field)
        else:
            need.update(DERIVED_INPUTS.get(field, ()))

    for p in policies:
        if p.conditions is not None:
            for leaf in p.conditions.leaves():
                add(leaf.field)
        for b in p.benefits:
            if b.base:
                add(b.base)
    return [f for f in PROFILE_FIELDS if f in need]


def _null_or(col: sa.ColumnElement[Any], cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.or_(col.is_(None), cond)


_CMP = {
    ">=": lambda c, v: c >= v, ">": lambda c, v: c > v, "<=": lambda c, v: c <= v,
    "<": lambda c, v: c < v, "==": lambda c, v: c == v, "!=": lambda c, v: c != v,
}


def leaf_filter(leaf: Criterion, region_index: bool = True) -> sa.ColumnElement[bool] | None:
    """SQL that keeps every firm for which ``leaf`` is true or unknown (None: no filter).

    Only leaves whose stored column decides them alone are translated; derived
    attributes, text and dates are left to the engine.
    """
    field, op, value = leaf.field, leaf.op, leaf.value
    if field not in _STORED:
        return None
    col = firms.c[field]
    kind = FIELDS[field].kind
    if kind == "prefix":
        if op == "in":
            # ``col || ''`` is the same value to compare, but no index can answer it.
            key = col if region_index or field != "region_code" else col.concat("")
            keep = [_prefix_range(key, str(p)) for p in value]  # type: ignore[union-attr]
            if field == "industry_code":
                # A coarser stored code (section ``C`` against ``C34``) makes the leaf
                # unknown, not false (``matcher.compile._coarser_table``): keep it.
                coarser = sorted({str(p)[:k] for p in value  # type: ignore[union-attr]
                                  for k in range(1, len(str(p)))})
                if coarser:
                    keep.append(col.in_(coarser))
            return _null_or(col, sa.or_(*keep))
        if op == "==":
            return _null_or(col, col == str(value))
        return None
    if field in NUMERIC_PROFILE_FIELDS:
        if op in _CMP:
            return _null_or(col, _CMP[op](col, _literal(field, value)))
        if op == "in":
            return _null_or(col, col.in_([float(v) for v in value]))  # type: ignore[union-attr]
        if op == "not_in":
            return _null_or(col, col.not_in([float(v) for v in value]))  # type: ignore[union-attr]
        return None
    if field in BOOL_PROFILE_FIELDS and op in ("==", "!="):
        target = bool(value) if op == "==" else not bool(value)
        return _null_or(col, col.is_(sa.true()) if target else col.is_(sa.false()))
    if field == "tax_credit_rating":
        allowed = _allowed_ratings(op, value)
        return None if allowed is None else _null_or(col, col.in_(allowed))
    if field == "qualifications" and op == "has":
        # The name must at least appear in the stored JSON (escaped or not); validity
        # windows are the engine's to check. JSON null is "unknown" too.
        text = sa.cast(col, sa.Text)
        escaped = json.dumps(str(value))[1:-1]
        return sa.or_(col.is_(None), text == "null", text.contains(str(value), autoescape=True),
                      text.contains(escaped, autoescape=True))
    return None


def _literal(field: str, value: Any) -> int | float:
    """The comparison value in the column's own type where that is exact: an integer for
    an integer column (PostgreSQL would otherwise cast every row to numeric)."""
    v = float(value)
    return int(v) if field in INTEGER_FIELDS and v.is_integer() else v


def _prefix_range(col: sa.ColumnElement[Any], prefix: str) -> sa.ColumnElement[bool]:
    """``col`` starts with ``prefix``, as a range both backends answer from an index.

    Codes are ASCII digits and capitals, so every string with the prefix sorts in
    [prefix, prefix with its last character incremented) under byte-wise collation;
    ``LIKE 'p%'`` says the same but neither SQLite nor a non-C PostgreSQL collation will
    use the ``region_code`` index for it.
    """
    if not prefix:
        return sa.true()
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(col >= prefix, col < upper)


def _allowed_ratings(op: str, value: Any) -> list[str] | None:
    order = {r: i for i, r in enumerate(TAX_CREDIT_RATINGS)}
    if op in ("in", "not_in"):
        hit = {str(v) for v in value}
        return sorted(hit) if op == "in" else [r for r in TAX_CREDIT_RATINGS if r not in hit]
    if op in _CMP and str(value) in order:
        t = order[str(value)]
        return [r for r in TAX_CREDIT_RATINGS if _CMP[op](order[r], t)]
    return None


def prefilter(policy: Policy, region_index: bool = True) -> list[sa.ColumnElement[bool]]:
    """SQL conditions (to be ANDed) from the root conjuncts of ``policy``'s tree.

    ``region_index=False`` words the region condition so that no index answers it (a
    table scan), for regions too large for row-by-row index lookups to pay.
    """
    root = policy.conditions
    if root is None:
        return []
    candidates = root.children if isinstance(root, AllOf) else (root,)
    out = []
    for node in candidates:
        if isinstance(node, Criterion):
            cond = leaf_filter(node, region_index)
            if cond is not None:
                out.append(cond)
    return out


def read_firms(conn: sa.Connection, columns: Sequence[str],
               where: Sequence[sa.ColumnElement[bool]] = ()) -> pd.DataFrame:
    """Stored profiles as a ``profiles_frame``-typed frame; unread columns are all unknown."""
    cols = [c for c in PROFILE_FIELDS if c in set(columns) | set(ALWAYS)]
    stmt = sa.select(*[firms.c[c] for c in cols])
    if where:
        stmt = stmt.where(*where)
    # No ORDER BY: it would make the planner walk the region index row by row (slower
    # than a scan once a region holds a quarter of the firms); ``encode`` sorts anyway.
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "postgresql":
        raw = _read_postgresql(conn, sql, cols)
    else:
        raw = _read_dbapi(conn, sql, cols)
    return _typed(raw, cols)


def _read_dbapi(conn: sa.Connection, sql: str, cols: Sequence[str]) -> dict[str, np.ndarray]:
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql)
        rows = cur.fetchall()
    finally:
        cur.close()
    if not rows:
        return {c: np.empty(0, dtype=object) for c in cols}
    table = np.array(rows, dtype=object)
    return {c: table[:, i] for i, c in enumerate(cols)}


def _read_postgresql(conn: sa.Connection, sql: str, cols: Sequence[str]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buf.write(block)
    types = {c: pa.float64() if c in NUMERIC_PROFILE_FIELDS else pa.string() for c in cols}
    for c in BOOL_PROFILE_FIELDS:
        if c in types:
            types[c] = pa.string()
    if buf.tell() == 0:
        return {c: np.empty(0, dtype=object) for c in cols}
    buf.seek(0)
    table = pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=list(cols)),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    out: dict[str, Any] = {}
    for c in cols:
        arr = table.column(c)
        if c in NUMERIC_PROFILE_FIELDS:
            out[c] = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        elif c in BOOL_PROFILE_FIELDS:
            out[c] = np.array([None if v is None else v == "t" for v in arr.to_pylist()],
                              dtype=object)
        else:
            out[c] = np.array(arr.to_pylist(), dtype=object)
    return out


def _typed(raw: dict[str, Any], cols: Sequence[str]) -> pd.DataFrame:
    n = len(next(iter(raw.values()))) if raw else 0
    data: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        values = raw.get(name)
        if name in NUMERIC_PROFILE_FIELDS:
            data[name] = (np.full(n, np.nan) if values is None
                          else pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                          .to_numpy(dtype=np.float64, na_value=np.nan))
        elif name in BOOL_PROFILE_FIELDS:
            if values is None:
                data[name] = pd.array([None] * n, dtype="boolean")
            else:
                data[name] = pd.array([None if v is None else bool(v) for v in values],
                                      dtype="boolean")
        elif name in JSON_FIELDS:
            if values is None:
                data[name] = pd.Series([None] * n, dtype=object)
            else:
                data[name] = pd.Series([_json(v) for v in values], dtype=object)
        elif name == "established_on":
            data[name] = pd.array([None] * n if values is None else
                                  [None if v is None else _iso(v) for v in values],
                                  dtype="string")
        else:
            data[name] = pd.array([None] * n if values is None else values, dtype="string")
    return pd.DataFrame(data)


def _json(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        v = json.loads(v)
    return v


def _iso(v: Any) -> str:
    return v.isoformat() if isinstance(v, dt.date) else str(v)[:10]


def encoded(frame: pd.DataFrame, as_of: dt.date) -> FirmColumns:
    """Derive and encode a loaded frame for the kernel."""
    return encode(derive(frame, as_of, size_standard()))


def region_share(conn: sa.Connection, policy: Policy) -> float | None:
    """Share of stored firms in the policy's root region restriction (None: none).

    Both counts are answered from indexes alone. SQLite has no statistics to tell a
    county (a few hundred firms: look them up by index) from a province (nearly all:
    scan), so the detector asks.
    """
    prefixes = region_prefixes(policy.conditions)
    if prefixes is None:
        return None
    col = firms.c.region_code
    total = conn.execute(sa.select(sa.func.count()).select_from(firms)).scalar_one()
    if not total:
        return 0.0
    inside = conn.execute(sa.select(sa.func.count()).select_from(firms).where(
        sa.or_(*[_prefix_range(col, p) for p in prefixes]))).scalar_one()
    return float(inside) / float(total)


# Above this share of the firms, reading a region through its index costs more than a scan.
INDEX_SHARE = 0.05


def load_for_policy(conn: sa.Connection, policy: Policy, as_of: dt.date) -> FirmColumns:
    """Every stored firm that ``policy`` could match on ``as_of``, encoded for the kernel."""
    use_index = True
    if conn.dialect.name == "sqlite":  # PostgreSQL's planner has statistics of its own
        share = region_share(conn, policy)
        use_index = share is not None and share <= INDEX_SHARE
    frame = read_firms(conn, needed_fields([policy]), prefilter(policy, use_index))
    return encoded(frame, as_of)
