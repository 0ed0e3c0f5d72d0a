"""Chunked evaluation: one chunk of firms → its 免申即享 rows, after the stacking rules.

:func:`evaluate_chunk` is a pure function of (chunk payload, :class:`RunJob`), both plain
picklable data, so the same code runs in this process or on a Dask worker and gives the
same rows. A chunk holds whole firms, so stacking rules (which look at all of one firm's
benefits) apply inside it. Memory is bounded by the chunk size: nothing here keeps rows of
earlier chunks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matcher.eligibility import Columns, evaluate
from matcher.errors import RecordError
from matcher.logic import STATUS_NAMES
from matcher.policy import Policy
from matcher.rows import ListedRows, listed_rows
from profiles.read import normalize_profile, profiles_frame
from runs.columns import frame_from_arrow
from runs.sources import ArrowChunk, FrameChunk, Payload, RecordChunk
from runs.stacking import ADJUSTMENT_COLUMNS, StackingRules, apply_stacking

LISTED_STATUSES: tuple[str, ...] = ("eligible", "undetermined")
# A chunk's rows, columnar: DATA.md §5 without the (empty) score, plus the firm name for the
# confirming department. Repeated texts are dictionary-encoded and the amount stays a number
# (yuan as published, null when unknown); the writers make the text at the very end.
_CODES = pa.dictionary(pa.int32(), pa.string())
ROW_SCHEMA = pa.schema([
    ("uscc", pa.string()), ("policy_id", _CODES), ("status", _CODES),
    ("amount", pa.float64()), ("unmet", _CODES), ("unknown", _CODES), ("name", pa.string()),
    ("rank", pa.int32()),  # the firm's position in the chunk's sorted codes (``usccs``)
])
ROW_COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
_STATUS_TEXT = pa.array([STATUS_NAMES[k] for k in range(3)], type=pa.string())
ADJUSTMENT_SCHEMA = pa.schema([(c, pa.string()) for c in ADJUSTMENT_COLUMNS])


@dataclass(frozen=True)
class RunJob:
    """Everything a worker needs to evaluate any chunk: policies, date, reference data, rules.

    Plain data, picklable; shipped once to each Dask worker.
    """

    policies: tuple[Policy, ...]
    as_of: dt.date
    size_standard: pd.DataFrame
    rules: StackingRules = field(default_factory=StackingRules)
    statuses: tuple[str, ...] = LISTED_STATUSES
    numba_threads: int | None = None  # 1 on Dask workers: the workers are the parallelism
    with_names: bool = True  # firm names in the rows: only the Excel workbook shows them


@dataclass
class ChunkResult:
    """One chunk's listed rows (sorted by policy_id, uscc) and what it skipped or adjusted."""

    index: int
    rows: pa.Table
    adjustments: pa.Table
    usccs: np.ndarray  # sorted 'S18' codes of the chunk's valid firms (duplicate detection)
    errors: list[tuple[str, str, str]]  # (where, field, message) of skipped records
    warnings: list[tuple[str, str, str]]
    n_records: int
    n_firms: int


def select_policies(policies: Sequence[Policy], mode: str | None) -> list[Policy]:
    """The run's policies: those of ``mode`` (e.g. ``no_application``), sorted by id."""
    chosen = [p for p in policies if mode is None or p.mode == mode]
    return sorted(chosen, key=lambda p: p.id)


def records_frame(chunk: RecordChunk) -> tuple[pd.DataFrame, list[RecordError], list[RecordError]]:
    errors: list[RecordError] = []
    warnings: list[RecordError] = []
    records = []
    seen: dict[str, str] = {}
    for where, row in chunk.rows:
        if isinstance(row, RecordError):
            errors.append(row)
            continue
        try:
            rec = normalize_profile(row, where, warnings, chunk.factors or None)
        except RecordError as e:
            errors.append(e)
            continue
        if rec["uscc"] in seen:
            errors.append(RecordError(
                where, "uscc", f"duplicate {rec['uscc']} (first at {seen[rec['uscc']]})"))
            continue
        seen[rec["uscc"]] = where
        records.append(rec)
    return profiles_frame(records), errors, warnings


def _as_tuples(errs: list[RecordError]) -> list[tuple[str, str, str]]:
    return [(e.where, e.field or "", e.message) for e in errs]


def evaluate_chunk(index: int, payload: Payload, job: RunJob) -> ChunkResult:
    """Validate, evaluate and stack one chunk of firms."""
    if job.numba_threads is not None:
        import numba

        # NUMBA_NUM_THREADS is set on numba.config at import (from the environment).
        limit = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        numba.set_num_threads(min(job.numba_threads, limit))
    if isinstance(payload, ArrowChunk):
        report = frame_from_arrow(payload.table, payload.source_name, payload.first_row)
        frame, errors, warnings = report.frame, report.errors, report.warnings
        n_records = payload.table.num_rows
    elif isinstance(payload, FrameChunk):
        frame, errors, warnings = payload.frame, [], []
        n_records = len(frame)
    else:
        frame, errors, warnings = records_frame(payload)
        n_records = len(payload.rows)
    uscc = pa.array(frame["uscc"].to_numpy(dtype=object), type=pa.string())
    usccs = np.sort(frame["uscc"].to_numpy(dtype=object).astype("S18"))
    if len(frame) and job.policies:
        ev = evaluate(frame, list(job.policies), job.as_of, job.size_standard)
        names = (pa.array(frame["name"].to_numpy(dtype=object), type=pa.string())
                 if job.with_names else pa.nulls(len(frame), pa.string()))
        # firms by uscc once: each policy's rows then come out in list order
        region_uscc = uscc.take(pa.array(ev.firms.order))
        by_uscc = pc.sort_indices(region_uscc).to_numpy()
        listed = listed_rows(ev, list(job.statuses), by_uscc)
        if job.rules.empty:
            rank = np.empty(len(by_uscc), dtype=np.int32)
            rank[by_uscc] = np.arange(len(by_uscc), dtype=np.int32)
            rows = _columnar(listed, ev.policies, region_uscc,
                             names.take(pa.array(ev.firms.order)), rank)
            adjustments = pd.DataFrame({c: pd.Series(dtype=object) for c in ADJUSTMENT_COLUMNS})
        else:
            table, adjustments = apply_stacking(_frame(listed, ev.policies, region_uscc),
                                                job.rules)
            rows = _from_frame(table, uscc, names, usccs)
    else:
        rows = empty_rows()
        adjustments = pd.DataFrame({c: pd.Series(dtype=object) for c in ADJUSTMENT_COLUMNS})
    adjust = _to_arrow(adjustments, ADJUSTMENT_SCHEMA).sort_by(
        [("policy_id", "ascending"), ("uscc", "ascending"), ("rule", "ascending")])
    return ChunkResult(
        index=index,
        rows=rows,
        adjustments=adjust,
        usccs=usccs,
        errors=_as_tuples(errors),
        warnings=_as_tuples(warnings),
        n_records=n_records,
        n_firms=len(frame),
    )


def empty_rows() -> pa.Table:
    return ROW_SCHEMA.empty_table()


def _codes(indices: np.ndarray, texts: list[str] | pa.Array) -> pa.DictionaryArray:
    values = texts if isinstance(texts, pa.Array) else pa.array(texts, type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(indices, type=pa.int32()), values)


def _columnar(listed: ListedRows, policies: Sequence[Policy], uscc: pa.Array,
              names: pa.Array, rank: np.ndarray) -> pa.Table:
    """The chunk's rows as Arrow columns (``uscc``/``names``/``rank`` indexed like the firms)."""
    firm = pa.array(listed.firm, type=pa.int64())
    return pa.Table.from_arrays([
        uscc.take(firm),
        _codes(listed.policy, [p.id for p in policies]),
        _codes(listed.status.astype(np.int32), _STATUS_TEXT),
        pa.array(listed.amount, type=pa.float64(), from_pandas=True),
        _codes(listed.reason, listed.unmet),
        _codes(listed.reason, listed.unknown),
        pc.fill_null(names.take(firm), ""),
        pa.array(rank[listed.firm], type=pa.int32()),
    ], schema=ROW_SCHEMA)


def _frame(listed: ListedRows, policies: Sequence[Policy], uscc: pa.Array) -> pd.DataFrame:
    """The same rows as a §5 frame of strings, for the stacking rules (which read amounts)."""
    from runs.outputs import amount_text

    ids = np.array([p.id for p in policies], dtype=object)
    return pd.DataFrame({
        Columns.USCC: uscc.take(pa.array(listed.firm)).to_numpy(zero_copy_only=False),
        Columns.POLICY_ID: ids[listed.policy],
        Columns.STATUS: np.array([STATUS_NAMES[k] for k in range(3)], dtype=object)[
            listed.status],
        Columns.AMOUNT: amount_text(pa.array(listed.amount, from_pandas=True))
        .to_numpy(zero_copy_only=False),
        Columns.UNMET: np.array(listed.unmet, dtype=object)[listed.reason],
        Columns.UNKNOWN: np.array(listed.unknown, dtype=object)[listed.reason],
        Columns.SCORE: "",
    })


def _from_frame(table: pd.DataFrame, uscc: pa.Array, names: pa.Array,
                usccs: np.ndarray) -> pa.Table:
    """Rows kept by the stacking rules back in the columnar form, sorted (policy_id, uscc)."""
    if table.empty:
        return empty_rows()
    table = table.sort_values([Columns.POLICY_ID, Columns.USCC], kind="stable")
    where = pc.index_in(pa.array(table[Columns.USCC].to_numpy(dtype=object), pa.string()),
                        value_set=uscc)

    def codes(c: str) -> pa.Array:
        return pc.dictionary_encode(pa.array(table[c].to_numpy(dtype=object), type=pa.string()))

    amount = pd.to_numeric(table[Columns.AMOUNT].replace("", np.nan), errors="coerce")
    rows = pa.Table.from_arrays([
        pa.array(table[Columns.USCC].to_numpy(dtype=object), type=pa.string()),
        codes(Columns.POLICY_ID), codes(Columns.STATUS),
        pa.array(amount.to_numpy(dtype=np.float64), from_pandas=True),
        codes(Columns.UNMET), codes(Columns.UNKNOWN),
        pc.fill_null(names.take(where), ""),
        pa.array(np.searchsorted(usccs, table[Columns.USCC].to_numpy(dtype=object)
                                 .astype("S18")), type=pa.int32()),
    ], schema=ROW_SCHEMA)
    return rows


def _to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """String columns of ``schema`` (missing → ""), without a round trip through Python str."""
    arrays = []
    for f in schema:
        if f.name in df.columns and len(df):
            arr = pa.array(df[f.name], from_pandas=True)
            arr = pc.fill_null(arr.cast(pa.string()), "")
        else:
            arr = pa.array([""] * len(df), type=pa.string())
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)
