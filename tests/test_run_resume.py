"""Fault tolerance with a real process: SIGKILL mid-run, nothing visible as done, --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.main import main
from runs.checkpoint import RunDir
from tests._run_support import firm_records, policy_objects, write_jsonl, write_parquet

AS_OF = "2025-06-30"
OUTPUTS = ("eligible.csv", "eligible.xlsx", "eligible.parquet", "adjustments.csv")


def _cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "cli.main", *[str(a) for a in args]]


def _wait_for_chunks(runs: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 60
                     ) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in runs.glob("*/state.json"):
            try:
                st = json.loads(state.read_text())
            except (json.JSONDecodeError, OSError):
                continue
            if st.get("chunks_done", 0) >= n and st.get("state") == "running":
                return state.parent
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before it could be killed")
        time.sleep(0.005)
    pytest.fail("no progress within the time limit")


def test_killed_run_is_failed_and_resume_finishes_it(tmp_path: Path) -> None:
    profiles = write_parquet(tmp_path / "firms.parquet", firm_records(3000, seed=11))
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cmd("run", "--profiles", profiles, "--policies", policies, "--as-of", AS_OF,
             "--out", out, "--chunk-size", "50", "--no-progress"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1])
    try:
        run_path = _wait_for_chunks(out / ".runs", 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    run_id = run_path.name
    run = RunDir(run_path)
    # state.json still says running (nobody could write it), but the run is seen as failed
    assert json.loads((run_path / "state.json").read_text())["state"] == "running"
    status = run.status()
    assert status["state"] == "failed" and status["interrupted"] is True
    # no list is visible: not in OUT, not in the run directory
    for name in (*OUTPUTS, "manifest.json"):
        assert not (out / name).exists() and not (run_path / name).exists()
    finished = run.finished_chunks()
    assert 3 <= len(finished) < 60
    markers = {k: (run_path / "chunks" / f"{k:06d}.json").stat() for k in finished}

    resumed = subprocess.run(
        _cmd("run", "--out", out, "--resume", run_id, "--no-progress"),
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == run_id
    assert f"{len(finished)} chunk(s) resumed" in resumed.stderr
    for k, before in markers.items():  # finished chunks were not recomputed nor rewritten
        after = (run_path / "chunks" / f"{k:06d}.json").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert run.status()["state"] == "done"

    # the resumed list is the list an uninterrupted run makes, byte for byte
    assert main(["run", "--profiles", str(profiles), "--policies", str(policies), "--as-of",
                 AS_OF, "--out", str(tmp_path / "clean"), "--chunk-size", "50",
                 "--no-progress"]) == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    m = json.loads((out / "manifest.json").read_text())
    assert m["run_id"] == run_id and m["firms"]["evaluated"] == 3000


def test_resume_refuses_changed_input_and_unknown_runs(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    profiles = write_jsonl(tmp_path / "f.jsonl", firm_records(30, seed=2))
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    out = tmp_path / "out"
    assert main(["run", "--profiles", str(profiles), "--policies", str(policies), "--as-of",
                 AS_OF, "--out", str(out), "--no-progress"]) == 0
    run_id = json.loads((out / "manifest.json").read_text())["run_id"]
    run = RunDir(out / ".runs" / run_id)
    # pretend it had been interrupted: the state says running but nobody holds the lock
    st = json.loads((run.path / "state.json").read_text())
    (run.path / "state.json").write_text(json.dumps({**st, "state": "running"}))
    assert run.status()["state"] == "failed"
    write_jsonl(profiles, firm_records(31, seed=2))
    assert main(["run", "--out", str(out), "--resume", run_id]) == 2
    assert "changed since the run started" in capsys.readouterr().err
    assert main(["run", "--out", str(out), "--resume", "nope"]) == 2
    assert "no such run" in capsys.readouterr().err


def test_sigterm_marks_the_run_failed_on_the_way_out(tmp_path: Path) -> None:
    profiles = write_parquet(tmp_path / "firms.parquet", firm_records(3000, seed=12))
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cmd("run", "--profiles", profiles, "--policies", policies, "--as-of", AS_OF,
             "--out", out, "--chunk-size", "50", "--no-progress"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1])
    try:
        run_path = _wait_for_chunks(out / ".runs", 2, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and b"interrupted" in err
    st = json.loads((run_path / "state.json").read_text())
    assert st["state"] == "failed" and "signal" in st["error"]
    assert not (out / "eligible.csv").exists()
