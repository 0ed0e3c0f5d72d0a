"""Drive a run end to end: plan, evaluate chunks (here or on Dask), checkpoint, finalize.

Order of events, chosen so that a kill at any instant loses nothing and shows nothing
half-done: the run directory and its spec first; then one checkpoint per chunk (marker
last); then the final files, each under a temporary name renamed into place inside the
run directory; then the manifest; then state ``done``; and only then the files appear in
the output directory (the old ``manifest.json`` is removed first and the new one linked
last, so a manifest in OUT always describes the files beside it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from matcher.errors import PolicyMatchError
from matcher.policy import Policy
from policies.read import parse_policies, read_policies
from profiles.reference import size_standard
from runs.batch import (
    LISTED_STATUSES,
    ChunkResult,
    RunJob,
    evaluate_chunk,
    select_policies,
)
from runs.checkpoint import RunDir, run_dir_for, utc_now, write_json_atomic
from runs.manifest import (
    Tally,
    canonical_json,
    code_version,
    finish_manifest,
    policy_fingerprint,
)
from runs.merge import merge_parts
from runs.outputs import CsvWriter, ParquetRowsWriter, XlsxWriter, commit_file, temp_beside
from runs.sources import Payload, ProfileSource, file_sha256
from runs.stacking import ADJUSTMENT_COLUMNS, stacking_rules
from runs.workflow import Workflow

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only by runs that use it
    from runs.store_mode import StoreSource
    from store.store import Store

FORMATS: tuple[str, ...] = ("csv", "xlsx", "parquet")
OUTPUT_FILES = {"csv": "eligible.csv", "xlsx": "eligible.xlsx", "parquet": "eligible.parquet"}
DEFAULT_CHUNK_SIZE = 200_000


class Executor(Protocol):
    """Evaluates chunks; yields results as they finish (any order), a bounded number in flight."""

    def map_chunks(
        self, job: RunJob, chunks: Iterator[tuple[int, Payload]]
    ) -> Iterator[ChunkResult]: ...


class LocalExecutor:
    """In this process, one chunk at a time (numba still uses the cores inside a chunk).

    The next chunk is read in a background thread while this one is evaluated: decoding
    Parquet releases the GIL, so reading overlaps the work. One chunk ahead at most.
    """

    def map_chunks(
        self, job: RunJob, chunks: Iterator[tuple[int, Payload]]
    ) -> Iterator[ChunkResult]:
        source = iter(chunks)
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = reader.submit(next, source, None)
            while (item := ahead.result()) is not None:
                ahead = reader.submit(next, source, None)
                yield evaluate_chunk(item[0], item[1], job)


@dataclass
class RunOptions:
    """What the caller asks for; everything that decides the list is recorded in the spec."""

    profiles: Path | None
    policies: Path
    as_of: dt.date
    out: Path
    mode: str | None = "no_application"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    formats: tuple[str, ...] = FORMATS
    execution: dict[str, Any] = field(default_factory=dict)  # workers / scheduler, recorded only
    store: Store | None = None  # read firms from it (no profiles) and record the run in it


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    resumed_chunks: int  # chunks found finished and not recomputed


ProgressFn = Callable[[int], None]  # called with the number of input records just finished


def _store_mode() -> Any:
    """``runs.store_mode``, imported on first use: file runs do not load SQLAlchemy."""
    import runs.store_mode

    return runs.store_mode


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _policies_snapshot(policies: list[Policy]) -> bytes:
    import json

    return "".join(
        json.dumps(p.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for p in policies
    ).encode("utf-8")


def start_run(opts: RunOptions, executor: Executor | None = None,
              progress: ProgressFn | None = None, total: Callable[[int | None], None] | None = None
              ) -> RunOutcome:
    """Begin a new run in ``opts.out/.runs/<id>`` and carry it to the end.

    Firms come from ``opts.profiles`` or, without it, from ``opts.store``; with a store the
    run and its list are recorded there too.
    """
    if opts.chunk_size < 1:
        raise PolicyMatchError(f"--chunk-size must be ≥ 1, got {opts.chunk_size}")
    if opts.store is not None and "parquet" not in opts.formats:
        opts.formats = (*opts.formats, "parquet")  # the store is loaded from the Parquet list
    bad = [f for f in opts.formats if f not in FORMATS]
    if bad:
        raise PolicyMatchError(f"unknown output format(s) {bad}; use {', '.join(FORMATS)}")
    all_policies = read_policies(opts.policies)
    selected = select_policies(all_policies, opts.mode)
    if not selected:
        raise PolicyMatchError(
            f"{opts.policies}: no policies with mode {opts.mode!r} among {len(all_policies)}")
    stacking_rules(selected)  # refuse malformed stacking fields before any work
    if opts.profiles is not None:
        source = ProfileSource(opts.profiles)
        profiles_info = {
            "path": str(opts.profiles.resolve()),
            "name": opts.profiles.name,
            "format": source.format,
            "bytes": opts.profiles.stat().st_size,
            "sha256": file_sha256(opts.profiles),
        }
    elif opts.store is not None:
        from store.url import redacted

        profiles_info = {"format": "store", "name": redacted(opts.store.url),
                         "revision": _store_mode().firms_revision(opts.store)}
    else:
        raise PolicyMatchError("a run needs --profiles FILE or --store URL")
    snapshot = _policies_snapshot(selected)
    spec = {
        "as_of": opts.as_of.isoformat(),
        "mode": opts.mode,
        "statuses": list(LISTED_STATUSES),
        "chunk_size": opts.chunk_size,
        "formats": list(opts.formats),
        "profiles": profiles_info,
        "recorded_in_store": opts.store is not None,
        "policies": {
            "path": str(opts.policies.resolve()),
            "name": opts.policies.name,
            "selected": len(selected),
            "in_file": len(all_policies),
            "snapshot_sha256": hashlib.sha256(snapshot).hexdigest(),
        },
        "execution": opts.execution,
        "out": str(opts.out.resolve()),
        "started_at": utc_now(),
    }
    run = RunDir(run_dir_for(opts.out, new_run_id()))
    run.write_spec(spec)
    tmp = temp_beside(run.path / "policies.jsonl")
    tmp.write_bytes(snapshot)
    commit_file(tmp, run.path / "policies.jsonl")
    if opts.store is not None:
        _store_mode().StoreRecorder(opts.store).started(run.run_id, opts.as_of, {
            k: spec[k] for k in ("as_of", "mode", "statuses", "chunk_size", "execution")
        } | {"out": spec["out"], "run_dir": str(run.path.resolve()),
             "profiles": profiles_info["name"]})
    return _carry(run, executor, progress, total, opts.store)


def resume_run(out: Path, run_id: str, executor: Executor | None = None,
               progress: ProgressFn | None = None,
               total: Callable[[int | None], None] | None = None,
               store: Store | None = None) -> RunOutcome:
    """Finish an interrupted run without recomputing its finished chunks.

    Refuses when the input file changed since the run began (its hash is in the spec):
    a list must come from one state of the data.
    """
    run = RunDir(run_dir_for(out, run_id))
    spec = run.spec()
    st = run.status()
    if st.get("state") == "done":  # finished; make sure OUT shows it (publishing is idempotent)
        _publish(run, Path(spec["out"]), spec["formats"])
        if store is not None and spec.get("recorded_in_store"):
            manifest = _read_manifest(run)
            _store_mode().StoreRecorder(store).done(
                run.run_id, run.path / OUTPUT_FILES["parquet"], manifest["counts"])
            Workflow(run.path, store).sync_store()  # a step the store missed
        return RunOutcome(run.run_id, run.path, _read_manifest(run), resumed_chunks=0)
    if (spec["profiles"]["format"] == "store" or spec.get("recorded_in_store")) \
            and store is None:
        raise PolicyMatchError(f"run {run_id} works with the store: resume it with --store URL")
    if spec["profiles"]["format"] != "store":
        path = Path(spec["profiles"]["path"])
        if not path.is_file():
            raise PolicyMatchError(f"run {run_id}: its input {path} is gone; cannot resume")
        if file_sha256(path) != spec["profiles"]["sha256"]:
            raise PolicyMatchError(
                f"run {run_id}: {path} changed since the run started (sha256 differs); "
                "start a new run instead")
    return _carry(run, executor, progress, total, store)


def _read_manifest(run: RunDir) -> dict[str, Any]:
    import json

    return json.loads((run.path / "manifest.json").read_text(encoding="utf-8"))


def _job(run: RunDir, spec: dict[str, Any], numba_threads: int | None) -> RunJob:
    text = (run.path / "policies.jsonl").read_text(encoding="utf-8")
    policies = parse_policies(text.splitlines(), "policies.jsonl")
    return RunJob(
        policies=tuple(policies),
        as_of=dt.date.fromisoformat(spec["as_of"]),
        size_standard=size_standard(),
        rules=stacking_rules(policies),
        statuses=tuple(spec["statuses"]),
        numba_threads=numba_threads,
        with_names="xlsx" in spec["formats"],
    )


def _check_revision(store: Store, spec: dict[str, Any]) -> None:
    now = _store_mode().firms_revision(store)
    if now != spec["profiles"]["revision"]:
        raise PolicyMatchError(
            f"the store's firms changed during the run (revision {spec['profiles']['revision']}"
            f" → {now}); start a new run so the list comes from one state of the data")


def _carry(run: RunDir, executor: Executor | None, progress: ProgressFn | None,
           total: Callable[[int | None], None] | None, store: Store | None = None
           ) -> RunOutcome:
    executor = executor or LocalExecutor()
    spec = run.spec()
    t0 = time.monotonic()
    from_store = spec["profiles"]["format"] == "store"
    recorder = (_store_mode().StoreRecorder(store)
                if store is not None and spec.get("recorded_in_store") else None)
    with run.locked():
        try:
            run.set_state("running", error=None)
            job = _job(run, spec, getattr(executor, "numba_threads", None))
            source: ProfileSource | StoreSource
            if from_store:
                assert store is not None
                _check_revision(store, spec)
                source = _store_mode().StoreSource(store)
            else:
                source = ProfileSource(spec["profiles"]["path"])
            n_total = source.count()
            if total is not None:
                total(n_total)
            chunk_size = int(spec["chunk_size"])
            done: dict[int, dict[str, Any]] = {}
            for k in run.finished_chunks():
                meta = run.chunk_done(k)
                if meta is not None:
                    done[k] = meta
            resumed = len(done)
            if progress is not None and done:
                progress(sum(m["n_records"] for m in done.values()))

            def todo() -> Iterator[tuple[int, Payload]]:
                for k, payload in source.chunks(chunk_size):
                    if k not in done:
                        yield k, payload

            firms_done = sum(m["n_firms"] for m in done.values())
            for result in executor.map_chunks(job, todo()):
                done[result.index] = run.write_chunk(result)
                firms_done += result.n_firms
                run.set_state("running", chunks_done=len(done), firms_done=firms_done,
                              records_total=n_total)
                if progress is not None:
                    progress(result.n_records)
            input_info = {k: spec["profiles"][k] for k in ("name", "format", "bytes", "sha256")
                          if k in spec["profiles"]}
            if from_store:
                assert store is not None and isinstance(source, _store_mode().StoreSource)
                _check_revision(store, spec)
                input_info.update(revision=spec["profiles"]["revision"],
                                  sha256=source.digest.hexdigest())
            run.set_state("finalizing", chunks_done=len(done), firms_done=firms_done)
            manifest = _finalize(run, spec, job, done, t0, input_info)
            workflow = Workflow(run.path, store if recorder is not None else None)
            if workflow.state() is None:
                workflow.generate()
            run.set_state("done", chunks_done=len(done), firms_done=firms_done,
                          finished_at=manifest["finished_at"])
            _publish(run, Path(spec["out"]), spec["formats"])
            if recorder is not None:
                recorder.done(run.run_id, run.path / OUTPUT_FILES["parquet"]
                              if "parquet" in spec["formats"] else None, manifest["counts"])
            run.drop_chunks()
            return RunOutcome(run.run_id, run.path, manifest, resumed)
        except BaseException as e:
            message = str(e) or type(e).__name__
            run.set_state("failed", error=f"{type(e).__name__}: {message}")
            if recorder is not None:
                recorder.failed(run.run_id, f"{type(e).__name__}: {message}")
            raise


def _duplicates(run: RunDir, chunks: list[int]
                ) -> tuple[dict[int, set[str]], list[list[str]], list[np.ndarray]]:
    """Firms repeated across chunks (the first occurrence wins, later ones are skipped), and
    per chunk the global rank of each of its firms (by code) — the merge's integer keys."""
    keys = [run.load_keys(k) for k in chunks]
    if not keys:
        return {}, [], []
    allk = np.concatenate(keys)
    owner = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in enumerate(keys)])
    order = np.argsort(allk, kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order), dtype=np.int64)
    bounds = np.cumsum([0] + [len(a) for a in keys])
    ranks = [position[bounds[i]: bounds[i + 1]] for i in range(len(keys))]
    sk, so = allk[order], owner[order]
    repeat = np.flatnonzero(sk[1:] == sk[:-1]) + 1
    drop: dict[int, set[str]] = {}
    errors: list[list[str]] = []
    for i in repeat:
        code = sk[i].decode()
        drop.setdefault(int(so[i]), set()).add(code)
        errors.append([f"chunk {chunks[int(so[i])]}", "uscc",
                       f"duplicate {code} (first in chunk {chunks[int(so[i - 1])]}); skipped"])
    return drop, errors, ranks


def _finalize(run: RunDir, spec: dict[str, Any], job: RunJob, done: dict[int, dict[str, Any]],
              t0: float, input_info: dict[str, Any]) -> dict[str, Any]:
    chunks = sorted(done)
    drop, dup_errors, ranks = _duplicates(run, chunks)
    as_of = job.as_of
    policies = list(job.policies)
    formats = spec["formats"]
    writers: dict[str, Any] = {}
    try:
        if "csv" in formats:
            writers["csv"] = CsvWriter(run.path / OUTPUT_FILES["csv"])
        if "parquet" in formats:
            writers["parquet"] = ParquetRowsWriter(run.path / OUTPUT_FILES["parquet"])
        if "xlsx" in formats:
            writers["xlsx"] = XlsxWriter(run.path / OUTPUT_FILES["xlsx"],
                                         [(p.id, p.title) for p in policies], as_of)
        adjust = CsvWriter(run.path / "adjustments.csv", ADJUSTMENT_COLUMNS)
        writers["adjustments"] = adjust
        tally = Tally([p.id for p in policies])
        ids = [p.id for p in policies]
        # Each writer runs in its own thread (Arrow and zlib release the GIL), fed the
        # merged blocks in order; at most one block waits per writer, so memory stays flat.
        sinks = [tally.add] + [writers[n].write for n in ("csv", "parquet", "xlsx")
                               if n in writers]
        with ThreadPoolExecutor(max_workers=len(sinks)) as pool:
            pending: list[Future[None]] = []
            for table in merge_parts([run.chunk_paths(k)[0] for k in chunks], drop,
                                     policy_ids=ids, ranks=ranks):
                for f in pending:
                    f.result()
                pending = [pool.submit(sink, table) for sink in sinks]
            for f in pending:
                f.result()
        n_adjust = 0
        adjust_by_rule: dict[str, int] = {}
        for table in merge_parts([run.chunk_paths(k)[1] for k in chunks], drop,
                                 policy_ids=ids):
            adjust.write(table)
            n_adjust += table.num_rows
            for rule in table.column("rule").to_pylist():
                adjust_by_rule[rule] = adjust_by_rule.get(rule, 0) + 1
        skipped = CsvWriter(run.path / "skipped.csv", ("where", "field", "message"))
        writers["skipped"] = skipped
        errors = [e for k in chunks for e in done[k]["errors"]] + dup_errors
        if errors:
            skipped.write(pa.table({c: [e[i] for e in errors] for i, c in
                                    enumerate(("where", "field", "message"))}))
        for w in writers.values():
            w.commit()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    outputs = {}
    for name in [OUTPUT_FILES[f] for f in FORMATS if f in formats] + ["adjustments.csv",
                                                                       "skipped.csv"]:
        path = run.path / name
        w = writers.get(next((f for f, n in OUTPUT_FILES.items() if n == name), name))
        if isinstance(w, CsvWriter) and w.size == path.stat().st_size:  # hashed while written
            outputs[name] = {"sha256": w.digest.hexdigest(), "bytes": w.size}
        else:
            outputs[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    counts = tally.summary()
    finished = utc_now()
    rules = job.rules
    manifest = finish_manifest({
        "run_id": run.run_id,
        "as_of": spec["as_of"],
        "mode": spec["mode"],
        "parameters": {"statuses": spec["statuses"], "mode": spec["mode"],
                       "as_of": spec["as_of"], "formats": formats},
        "execution": {"chunk_size": spec["chunk_size"], **spec.get("execution", {})},
        "input": input_info,
        "policies": [policy_fingerprint(p) for p in policies],
        "policies_snapshot_sha256": spec["policies"]["snapshot_sha256"],
        "code_version": code_version(),
        "firms": {
            "records": sum(done[k]["n_records"] for k in chunks),
            "evaluated": sum(done[k]["n_firms"] for k in chunks) - len(dup_errors),
            "skipped": len(errors),
            "warnings": sum(len(done[k]["warnings"]) for k in chunks),
        },
        "counts": counts["totals"],
        "counts_per_policy": counts["per_policy"],
        "total_amount": counts["totals"]["amount_eligible"],
        "stacking": {
            "exclusive_groups": [list(g) for g in rules.groups],
            "caps": {pid: {"per_firm_cap": c, "cap_group": rules.cap_group.get(pid)}
                     for pid, c in sorted(rules.cap.items())},
            "notes": list(rules.notes),
            "adjustments": n_adjust,
            "adjustments_by_rule": dict(sorted(adjust_by_rule.items())),
        },
        "outputs": outputs,
        "started_at": spec["started_at"],
        "finished_at": finished,
        "elapsed_seconds": round(time.monotonic() - t0, 3),
    })
    path = run.path / "manifest.json"
    tmp = temp_beside(path)
    tmp.write_bytes(canonical_json(manifest))
    commit_file(tmp, path)
    return manifest


def _link_into(src: Path, dst: Path) -> None:
    """Place ``src`` at ``dst`` atomically: a hard link (no copy) or, across devices, a copy."""
    tmp = temp_beside(dst)
    tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _publish(run: RunDir, out: Path, formats: list[str]) -> None:
    """Expose the finished files in OUT; the manifest goes last."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for name in [OUTPUT_FILES[f] for f in FORMATS if f in formats] + ["adjustments.csv",
                                                                       "skipped.csv"]:
        _link_into(run.path / name, out / name)
    _link_into(run.path / "manifest.json", out / "manifest.json")
    write_json_atomic(out / ".runs" / "latest.json", {"run_id": run.run_id})


def run_status(out: Path, run_id: str) -> dict[str, Any]:
    """State and progress of a run, with killed runs reported as failed."""
    return RunDir(run_dir_for(out, run_id)).status()
