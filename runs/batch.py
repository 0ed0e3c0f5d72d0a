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

from matcher.eligibility import Columns, eligibility_table, evaluate
from matcher.errors import RecordError
from matcher.policy import Policy
from profiles.read import normalize_profile, profiles_frame
from runs.columns import frame_from_arrow
from runs.sources import ArrowChunk, FrameChunk, Payload, RecordChunk
from runs.stacking import ADJUSTMENT_COLUMNS, StackingRules, apply_stacking

LISTED_STATUSES: tuple[str, ...] = ("eligible", "undetermined")
# Columns of a chunk's rows: DATA.md §5, then the firm name for the confirming department.
ROW_COLUMNS: tuple[str, ...] = (*Columns.ALL, "name")
ROW_SCHEMA = pa.schema([(c, pa.string()) for c in ROW_COLUMNS])
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

        numba.set_num_threads(min(job.numba_threads, numba.config.NUMBA_NUM_THREADS))
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
    usccs = np.sort(frame["uscc"].to_numpy(dtype=object).astype("S18"))
    if len(frame) and job.policies:
        ev = evaluate(frame, list(job.policies), job.as_of, job.size_standard)
        table = eligibility_table(ev, statuses=list(job.statuses))
        table, adjustments = apply_stacking(table, job.rules)
        rows = _to_arrow(table, ROW_SCHEMA)
        # firm names for the department's workbook, looked up by hash in Arrow
        where = pc.index_in(rows.column("uscc"), value_set=pa.array(
            frame["uscc"].to_numpy(dtype=object), type=pa.string()))
        names = pc.fill_null(pa.array(frame["name"].to_numpy(dtype=object), type=pa.string())
                             .take(where), "")
        rows = rows.set_column(rows.schema.get_field_index("name"), "name", names)
        rows = _by_policy(rows)
    else:
        rows = _to_arrow(pd.DataFrame(), ROW_SCHEMA)
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


def _by_policy(rows: pa.Table) -> pa.Table:
    """Reorder rows sorted by (uscc, policy_id) into (policy_id, uscc) order.

    ``eligibility_table`` sorts by uscc then policy_id, so a stable sort on the policy
    alone — on small integer codes — gives the order the list is published in.
    """
    if rows.num_rows == 0:
        return rows
    enc = pc.dictionary_encode(rows.column("policy_id").combine_chunks())
    dictionary = np.array(enc.dictionary.to_pylist(), dtype=object)
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[np.argsort(dictionary, kind="stable")] = np.arange(len(dictionary))
    codes = rank[enc.indices.to_numpy(zero_copy_only=False)]
    out = rows.take(pa.array(np.argsort(codes, kind="stable")))
    uscc = out.column("uscc").combine_chunks()
    pid = out.column("policy_id").combine_chunks()
    same = pc.equal(pid[1:], pid[:-1])
    if pc.any(pc.and_(same, pc.less(uscc[1:], uscc[:-1]))).as_py():  # not the assumed order
        out = rows.sort_by([("policy_id", "ascending"), ("uscc", "ascending")])
    return out


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
