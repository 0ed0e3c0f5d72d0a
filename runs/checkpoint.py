"""A run's directory: its spec, state, per-chunk checkpoints and final files.

Layout under ``OUT/.runs/<run_id>/``::

    spec.json            what was asked (inputs, fingerprints, parameters) — written once
    policies.jsonl       the exact policies evaluated (a snapshot: reruns and diffs use it)
    state.json           running / finalizing / done / failed, with progress
    lock                 held (flock) by the process working on the run
    chunks/000007.*      one checkpoint per finished chunk; ``000007.json`` is written last
    eligible.csv …       the final files, hard-linked into OUT when the run is done
    audit.jsonl          the confirmation workflow's append-only log

A chunk counts as finished only when its ``.json`` marker exists, and the marker records
the hashes of the chunk's files, so a kill at any instant leaves either a whole checkpoint
or none. The lock is an ``flock``: the kernel drops it when the process dies, which is how
a killed run is told apart from a running one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from matcher.errors import PolicyMatchError
from runs.batch import ChunkResult
from runs.manifest import canonical_json
from runs.outputs import commit_file, temp_beside

State = Literal["running", "finalizing", "done", "failed"]
RUNS_DIRNAME = ".runs"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def utc_now() -> str:
    """Wall-clock time for the manifest's declared time fields and the audit log only."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = temp_beside(path)
    tmp.write_bytes(canonical_json(obj))
    commit_file(tmp, path)


def write_ipc(table: pa.Table, path: Path) -> None:
    """A chunk's rows as an Arrow IPC file (lz4): written and read back at memory speed,
    in record batches of the merge's block size."""
    from runs.merge import BLOCK_ROWS

    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(path, table.schema, options=options) as fh:
        fh.write_table(table, max_chunksize=BLOCK_ROWS)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def run_dir_for(out: Path, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise PolicyMatchError(f"invalid run id {run_id!r}")
    return out / RUNS_DIRNAME / run_id


class RunDir:
    """Files of one run; every write is temp-then-rename."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.chunks = path / "chunks"
        self._lock_fh: Any = None

    @property
    def run_id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return (self.path / "spec.json").is_file()

    # -- spec and state ---------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        if not self.exists():
            raise PolicyMatchError(f"{self.path}: no such run")
        return read_json(self.path / "spec.json")

    def write_spec(self, spec: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.chunks.mkdir(exist_ok=True)
        write_json_atomic(self.path / "spec.json", spec)

    def raw_state(self) -> dict[str, Any]:
        path = self.path / "state.json"
        return read_json(path) if path.is_file() else {"state": "failed", "error": "no state"}

    def set_state(self, state: State, **fields: Any) -> None:
        current = self.raw_state() if (self.path / "state.json").is_file() else {}
        current.update(fields)
        current.update({"run_id": self.run_id, "state": state, "updated_at": utc_now(),
                        "pid": os.getpid(), "host": socket.gethostname()})
        write_json_atomic(self.path / "state.json", current)

    def status(self) -> dict[str, Any]:
        """The state as others should see it: a run whose process died is ``failed``.

        ``state.json`` may still say ``running`` after a SIGKILL; the lock tells the truth
        (the kernel released it with the process), so such a run is reported failed with
        ``interrupted: true``.
        """
        st = self.raw_state()
        if st.get("state") in ("running", "finalizing") and not self.locked_by_other():
            st = {**st, "state": "failed", "interrupted": True,
                  "error": st.get("error") or "the run's process ended before it finished"}
        return st

    # -- lock -------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the run's lock or refuse: one process works on a run at a time."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = (self.path / "lock").open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise PolicyMatchError(
                f"run {self.run_id} is being worked on by another process") from None
        self._lock_fh = fh

    def release(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def locked_by_other(self) -> bool:
        if self._lock_fh is not None:
            return False
        lock = self.path / "lock"
        if not lock.exists():
            return False
        with lock.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    @contextmanager
    def locked(self) -> Iterator[RunDir]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    # -- chunk checkpoints ------------------------------------------------------------
    def _chunk(self, k: int, suffix: str) -> Path:
        return self.chunks / f"{k:06d}.{suffix}"

    def chunk_done(self, k: int) -> dict[str, Any] | None:
        """The marker of a finished chunk whose files are intact, else None."""
        marker = self._chunk(k, "json")
        if not marker.is_file():
            return None
        meta = read_json(marker)
        for name, digest in meta.get("files", {}).items():
            path = self.chunks / name
            if not path.is_file() or file_digest(path) != digest:
                return None
        return meta

    def write_chunk(self, result: ChunkResult) -> dict[str, Any]:
        k = result.index
        files: dict[str, str] = {}
        for suffix, table in (("rows.arrow", result.rows),
                              ("adjust.parquet", result.adjustments)):
            path = self._chunk(k, suffix)
            tmp = temp_beside(path)
            if suffix.endswith(".arrow"):  # short-lived: speed over size (Arrow IPC, lz4)
                write_ipc(table, tmp)
            else:
                pq.write_table(table, tmp, compression="lz4")
            commit_file(tmp, path)
            files[path.name] = file_digest(path)
        keys = self._chunk(k, "keys.npy")
        tmp = temp_beside(keys)
        with tmp.open("wb") as fh:
            np.save(fh, result.usccs, allow_pickle=False)
        commit_file(tmp, keys)
        files[keys.name] = file_digest(keys)
        meta = {
            "index": k, "n_records": result.n_records, "n_firms": result.n_firms,
            "rows": result.rows.num_rows, "adjustments": result.adjustments.num_rows,
            "errors": [list(e) for e in result.errors],
            "warnings": [list(w) for w in result.warnings],
            "files": files,
        }
        write_json_atomic(self._chunk(k, "json"), meta)  # the marker: last
        return meta

    def chunk_paths(self, k: int) -> tuple[Path, Path, Path]:
        return self._chunk(k, "rows.arrow"), self._chunk(k, "adjust.parquet"), \
            self._chunk(k, "keys.npy")

    def finished_chunks(self) -> list[int]:
        return sorted(int(p.name.split(".")[0]) for p in self.chunks.glob("*.json"))

    def load_keys(self, k: int) -> np.ndarray:
        return np.load(self._chunk(k, "keys.npy"), allow_pickle=False)

    def drop_chunks(self) -> None:
        """Free the checkpoints once the final files exist (they hold the same rows)."""
        for p in self.chunks.glob("*"):
            if not p.name.endswith(".json"):
                p.unlink(missing_ok=True)


def live_status(run_dir: str | Path) -> dict[str, Any] | None:
    """State and progress of a batch run from its directory, for ``GET /runs/{id}``.

    A store row says ``running`` until the run finishes it; when the process was killed
    the row never changes, so readers on the same host should ask the run directory,
    whose lock tells a live run from a dead one. None when the directory is not here.
    """
    run = RunDir(Path(run_dir))
    if not run.exists():
        return None
    st = run.status()
    total = st.get("records_total")
    progress = {"chunks_done": st.get("chunks_done", 0), "firms_done": st.get("firms_done", 0),
                "records_total": total}
    return {"state": st["state"], "interrupted": bool(st.get("interrupted")),
            "error": st.get("error"), "updated_at": st.get("updated_at"), "progress": progress}


def empty_rows_table(schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
