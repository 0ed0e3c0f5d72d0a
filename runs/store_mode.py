"""Runs against the store (``--store URL``): firms read from it in chunks, the list written back.

Firms are read with keyset pagination on ``uscc`` (``WHERE uscc > last ORDER BY uscc
LIMIT chunk``), one chunk in memory at a time, so chunk ``k`` is the same firms on a
resume as long as the firm table has not changed — which is checked: the store's
``firms_revision`` is recorded when the run starts and compared after the last chunk is
read and on ``--resume``. A run whose firms changed under it fails rather than mixing two
states of the data.

The run is a row of the store's ``runs`` table (kind ``no_application_batch``, same id as
the run directory) and its list goes to ``match_results`` when the files are final; the
files and manifest are still written, since the confirming department works on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from matcher.errors import PolicyMatchError
from runs.sources import FrameChunk, Payload
from store.firm_rows import frame_from_rows
from store.schema import firms as firms_table
from store.store import Store
from store.url import redacted

RUN_KIND = "no_application_batch"
ACTOR = "policy-match run"
_NON_PROFILE = ("as_of", "imported_at", "import_id", "revision")


def firms_revision(store: Store) -> int:
    return store.revision("firms_revision")


class StoreSource:
    """The store's firm table as a chunked profile source."""

    format = "store"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.columns = [c for c in firms_table.columns if c.name not in _NON_PROFILE]
        self.digest = hashlib.sha256()

    @property
    def name(self) -> str:
        return redacted(self.store.url)

    def count(self) -> int:
        return self.store.count_firms()

    def chunks(self, chunk_size: int) -> Iterator[tuple[int, Payload]]:
        """Chunks in uscc order; also feeds :attr:`digest` (the input fingerprint)."""
        last: str | None = None
        k = 0
        names = [c.name for c in self.columns]
        while True:
            stmt = sa.select(*self.columns).order_by(firms_table.c.uscc).limit(chunk_size)
            if last is not None:
                stmt = stmt.where(firms_table.c.uscc > last)
            with self.store.engine.connect() as conn:
                rows = conn.execute(stmt).all()
            if not rows:
                return
            columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
            frame = frame_from_rows(columns, len(rows))
            self.digest.update(_frame_bytes(frame))
            yield k, FrameChunk(frame, f"store:{k}")
            last = rows[-1][0]
            k += 1


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    """One 64-bit hash per firm, in uscc order: the digest does not depend on chunking."""
    f = frame.copy()
    for c in ("qualifications", "tags"):
        f[c] = [None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
                for v in f[c]]
    return pd.util.hash_pandas_object(f, index=False).to_numpy(dtype=np.uint64).tobytes()


@dataclass
class StoreRecorder:
    """Mirrors a run into the store: its row in ``runs`` and its list in ``match_results``."""

    store: Store

    def started(self, run_id: str, as_of: Any, params: dict[str, Any]) -> None:
        if self.store.run(run_id) is None:
            self.store.create_run(kind=RUN_KIND, as_of=as_of, params=params, actor=ACTOR,
                                  run_id=run_id)

    def done(self, run_id: str, parquet_path: Any, counts: dict[str, Any]) -> None:
        """Write the list, then mark the run done: until then no reader sees it as done."""
        row = self.store.run(run_id)
        if row is not None and row.state == "done":
            return
        if not self.store.results(run_id, limit=1).empty:
            raise PolicyMatchError(
                f"run {run_id}: the store holds part of its list from an interrupted write; "
                "its rows must be cleared before the list is written again")
        pf = pq.ParquetFile(parquet_path)
        for batch in pf.iter_batches(batch_size=50_000):
            self.store.write_results(run_id, batch.to_pandas())
        self.store.finish_run(run_id, state="done", counts=counts, actor=ACTOR)

    def failed(self, run_id: str, error: str) -> None:
        try:
            self.store.finish_run(run_id, state="failed", error=error, actor=ACTOR)
        except PolicyMatchError:
            pass
