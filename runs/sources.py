"""Firm profiles in chunks from Parquet, JSONL, CSV or Excel, with a fingerprint of the file.

A chunk is the ``k``-th block of ``chunk_size`` consecutive input records, so its contents
depend only on the file and the chunk size: that is what lets ``--resume`` skip finished
chunks and lets Dask workers evaluate chunks in any order. Reading stays streaming (one
chunk in memory); validation happens where the chunk is evaluated (possibly on a worker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.errors import PolicyMatchError, RecordError
from profiles.headers import map_headers
from profiles.read import jsonl_rows

Format = Literal["parquet", "jsonl", "csv", "xlsx"]
_FORMATS: dict[str, Format] = {
    ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl",
    ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
}


@dataclass
class ArrowChunk:
    """Columnar records (Parquet); validated column-wise by :mod:`runs.columns`."""

    table: pa.Table
    first_row: int  # 1-based row number in the file
    source_name: str  # the file name, for error locations


@dataclass
class RecordChunk:
    """Row records (JSONL/CSV/Excel) for the record reader, with their file locations.

    A row is a dict, or the RecordError that made it unreadable (a broken JSON line).
    ``factors`` are the unit multipliers implied by spreadsheet headers (万元 → ×10⁴).
    """

    rows: list[tuple[str, dict[str, Any] | RecordError]]
    factors: dict[str, float]


@dataclass
class FrameChunk:
    """Firms already validated and typed (read from the store): evaluated as they are."""

    frame: pd.DataFrame
    source_name: str


Payload = ArrowChunk | RecordChunk | FrameChunk


def profile_format(path: Path) -> Format:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise PolicyMatchError(
            f"{path}: unsupported profile format {path.suffix!r} (Parquet, JSONL, CSV or .xlsx)"
        )
    return fmt


def file_sha256(path: Path) -> str:
    """Fingerprint of the input bytes: the manifest's proof of which data a list came from."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class ProfileSource:
    """A profile file read chunk by chunk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise PolicyMatchError(f"{self.path}: no such file")
        self.format = profile_format(self.path)

    def count(self) -> int | None:
        """Number of records when cheap to know (Parquet metadata, JSONL/CSV lines)."""
        if self.format == "parquet":
            return int(pq.ParquetFile(self.path).metadata.num_rows)
        if self.format in ("jsonl", "csv"):
            with self.path.open("rb") as fh:
                lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
            return max(lines - (1 if self.format == "csv" else 0), 0)
        return None

    def chunks(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        """(chunk number, payload) for consecutive blocks of ``chunk_size`` records."""
        if chunk_size < 1:
            raise PolicyMatchError(f"chunk size must be ≥ 1, got {chunk_size}")
        try:
            if self.format == "parquet":
                yield from self._parquet(chunk_size)
            elif self.format == "jsonl":
                yield from self._jsonl(chunk_size)
            elif self.format == "csv":
                yield from self._csv(chunk_size)
            else:
                yield from self._xlsx(chunk_size)
        except (OSError, UnicodeDecodeError, pa.ArrowException, ValueError) as e:
            raise PolicyMatchError(f"{self.path}: cannot read ({e})") from None

    def _parquet(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        pf = pq.ParquetFile(self.path)
        pending: list[pa.RecordBatch] = []
        have = 0
        k = 0
        first = 1
        for batch in pf.iter_batches(batch_size=min(chunk_size, 65536)):
            pending.append(batch)
            have += batch.num_rows
            while have >= chunk_size:
                table = pa.Table.from_batches(pending)
                yield k, ArrowChunk(table.slice(0, chunk_size), first, self.path.name)
                rest = table.slice(chunk_size)
                pending = rest.to_batches()
                have -= chunk_size
                first += chunk_size
                k += 1
        if have:
            yield k, ArrowChunk(pa.Table.from_batches(pending), first, self.path.name)

    def _jsonl(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        rows: list[tuple[str, dict[str, Any] | RecordError]] = []
        k = 0
        for row in jsonl_rows(self.path):
            rows.append(row)
            if len(rows) == chunk_size:
                yield k, RecordChunk(rows, {})
                rows, k = [], k + 1
        if rows:
            yield k, RecordChunk(rows, {})

    def _header(self, columns: list[str]) -> tuple[dict[str, str], dict[str, float]]:
        return map_headers(list(columns), self.path.name)

    def _csv(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        reader = pd.read_csv(self.path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                             chunksize=chunk_size)
        line = 2
        for k, df in enumerate(reader):
            mapping, factors = self._header(list(df.columns))
            df = df.rename(columns=mapping)[list(mapping.values())]
            records = df.to_dict(orient="records")
            rows = [(f"{self.path.name}:{line + i}", r) for i, r in enumerate(records)]
            line += len(records)
            yield k, RecordChunk(rows, factors)  # type: ignore[arg-type]

    def _xlsx(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        from openpyxl import load_workbook

        wb = load_workbook(self.path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            it = ws.iter_rows(values_only=True)
            header = next(it, None)
            if header is None:
                return
            columns = ["" if h is None else str(h) for h in header]
            mapping, factors = self._header(columns)
            pos = [(i, mapping[c]) for i, c in enumerate(columns) if c in mapping]
            rows: list[tuple[str, dict[str, Any] | RecordError]] = []
            k = 0
            for lineno, values in enumerate(it, start=2):
                if values is None or all(v is None or v == "" for v in values):
                    continue
                rec = {fld: (values[i] if i < len(values) else None) for i, fld in pos}
                rec = {f: (str(v) if isinstance(v, int | float) and f == "uscc" else v)
                       for f, v in rec.items()}
                rows.append((f"{self.path.name}:{lineno}", rec))
                if len(rows) == chunk_size:
                    yield k, RecordChunk(rows, factors)
                    rows, k = [], k + 1
            if rows:
                yield k, RecordChunk(rows, factors)
        finally:
            wb.close()
