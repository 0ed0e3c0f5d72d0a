"""Writing result files safely: temp name, then rename, so no reader sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def _atomic_path(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    # mkstemp makes the file 0600; a result file is read by others, so follow the umask.
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """UTF-8 with BOM so that Excel shows Chinese correctly; renamed into place when done."""
    path = Path(path)
    fd, tmp = _atomic_path(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> None:
    """One JSON object per line, Chinese unescaped."""
    path = Path(path)
    fd, tmp = _atomic_path(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                # allow_nan=False: NaN is not JSON; a NaN reaching here is a bug to surface.
                fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
