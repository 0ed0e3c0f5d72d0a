"""Stream validated profile records out of a file for a chunked import.

JSONL is read line by line (a million firms never sit in memory as dicts at once) and
each line goes through ``profiles.read.normalize_profile``, the same validation as every
other reader; CSV and Excel go through ``profiles.read.read_profiles`` whole (the header
mapping and unit conversion live there), then stream from memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matcher.errors import PolicyMatchError, RecordError
from profiles.read import jsonl_rows, normalize_profile, read_profiles

Item = tuple[str, dict[str, Any]] | RecordError

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def iter_profile_records(path: str | Path, warnings: list[RecordError]) -> Iterator[Item]:
    """``(where, record)`` for each valid record, a :class:`RecordError` for each bad one.

    Non-fatal remarks (an ignored unknown column, an unknown qualification) are appended
    to ``warnings``. An unreadable file raises :class:`PolicyMatchError`.
    """
    path = Path(path)
    if not path.is_file():
        raise PolicyMatchError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl(path, warnings)
    if suffix in TABLE_SUFFIXES:
        report = read_profiles(path)
        warnings.extend(report.warnings)
        return _table(report.records, report.errors)
    raise PolicyMatchError(
        f"{path}: unsupported profile format {suffix!r} (use JSONL, CSV or .xlsx)"
    )


def _jsonl(path: Path, warnings: list[RecordError]) -> Iterator[Item]:
    try:
        for where, obj in jsonl_rows(path):
            if isinstance(obj, RecordError):
                yield obj
                continue
            try:
                yield where, normalize_profile(obj, where, warnings)
            except RecordError as e:
                yield e
    except UnicodeDecodeError as e:
        raise PolicyMatchError(f"{path}: not UTF-8 ({e.reason})") from None


def _table(records: list[dict[str, Any]], errors: list[RecordError]) -> Iterator[Item]:
    yield from errors
    for rec in records:
        yield str(rec["uscc"]), rec
