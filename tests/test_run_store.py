"""`policy-match run --store`: firms read from a real store in chunks, the run recorded there."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cli.main import main
from profiles.read import normalize_profile
from store.store import Store
from tests._run_support import firm_records, policy_objects, write_jsonl

AS_OF = "2025-06-30"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    name = f"pm_runs_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - report why, do not hide it
        admin.dispose()
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is needed for this test: {e}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_url()


def _cli(*args: str | Path) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([str(a) for a in args]) == 0
    return buf.getvalue().strip().splitlines()[-1]


def test_store_run_equals_file_run_and_is_recorded(store_url: str, tmp_path: Path) -> None:
    records = firm_records(300, seed=13)
    profiles = write_jsonl(tmp_path / "f.jsonl", records)
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    with Store(store_url) as store:
        report = store.import_firms(
            ((f"f:{i}", normalize_profile(r, f"f:{i}")) for i, r in enumerate(records)),
            source="f.jsonl", actor="test")
        assert report.written == 300
    _cli("run", "--profiles", profiles, "--policies", policies, "--as-of", AS_OF, "--out",
         tmp_path / "file", "--no-progress")
    run_id = _cli("run", "--store", store_url, "--policies", policies, "--as-of", AS_OF,
                  "--out", tmp_path / "db", "--chunk-size", "70", "--no-progress")
    for name in ("eligible.csv", "eligible.parquet", "eligible.xlsx", "adjustments.csv"):
        assert (tmp_path / "db" / name).read_bytes() == (tmp_path / "file" / name).read_bytes()
    manifest = json.loads((tmp_path / "db" / "manifest.json").read_text())
    assert manifest["input"]["format"] == "store" and len(manifest["input"]["sha256"]) == 64
    with Store(store_url) as store:
        row = store.run(run_id)
        assert row is not None and row.state == "done" and row.kind == "no_application_batch"
        assert row.counts["rows"] == manifest["counts"]["rows"]
        stored = store.results(run_id, limit=100_000)
    csv = pd.read_csv(tmp_path / "db" / "eligible.csv", dtype=str, keep_default_na=False,
                      encoding="utf-8-sig")
    assert list(stored["uscc"]) == list(csv["uscc"])
    assert list(stored["policy_id"]) == list(csv["policy_id"])
    # a rerun from the same store state is byte-identical, with the same input fingerprint
    _cli("run", "--store", store_url, "--policies", policies, "--as-of", AS_OF, "--out",
         tmp_path / "db2", "--chunk-size", "301", "--no-progress")
    again = json.loads((tmp_path / "db2" / "manifest.json").read_text())
    assert again["input"]["sha256"] == manifest["input"]["sha256"]
    assert (tmp_path / "db2" / "eligible.csv").read_bytes() == \
        (tmp_path / "db" / "eligible.csv").read_bytes()


def test_failed_store_run_is_marked_failed(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    bad = policy_objects()
    bad[0]["exclusive_with"] = ["wengang_cs"]
    policies = write_jsonl(tmp_path / "p.jsonl", bad)
    with Store(url) as store:
        store.import_firms([("f:1", normalize_profile(firm_records(1)[0], "f:1"))],
                           source="x", actor="test")
    # the output directory is a file: finalising fails after the chunks are done
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").mkdir()
    code = main(["run", "--store", url, "--policies", str(policies), "--as-of", AS_OF,
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code != 0
    capsys.readouterr()
    with Store(url) as store:
        runs = store.runs()
        assert len(runs) == 1 and runs[0].state == "failed" and runs[0].error


def _store_run(store_url: str, tmp_path: Path, firms: int,
               seed: int) -> tuple[Path, str, Path]:
    """``firms`` synthetic firms stored, then ``policy-match run --store`` over them:
    (output folder, run id, run folder)."""
    records = firm_records(firms, seed=seed)
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    with Store(store_url) as store:
        store.import_firms(
            ((f"f:{i}", normalize_profile(r, f"f:{i}")) for i, r in enumerate(records)),
            source="f.jsonl", actor="test")
    out = tmp_path / "db"
    run_id = _cli("run", "--store", store_url, "--policies", policies, "--as-of", AS_OF,
                  "--out", out, "--no-progress")
    return out, run_id, out / ".runs" / run_id


def _workflow_actions(store: Store, run_id: str) -> list[tuple[str, str, dict]]:
    entries = store.audit(target=f"run:{run_id}", limit=1000)[::-1]  # oldest first
    return [(e.action, e.actor, e.detail) for e in entries]


def test_workflow_steps_are_in_the_store_audit_log(store_url: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Each transition of a store run's list is an audit_log row: who, what, when."""
    out, run_id, run_dir = _store_run(store_url, tmp_path, 120, seed=21)
    listed = pd.read_csv(out / "eligible.csv", dtype=str, keep_default_na=False,
                         encoding="utf-8-sig")
    first = listed.iloc[0]
    # a step on a store run without the store would leave the store's log incomplete
    assert main(["runs", "confirm", str(run_dir), "--by", "王科长"]) != 0
    assert "recorded in a store" in capsys.readouterr().err
    assert len((run_dir / "audit.jsonl").read_text().splitlines()) == 1  # still generated
    _cli("runs", "confirm", run_dir, "--by", "王科长", "--note", "已核对", "--store", store_url)
    _cli("runs", "publish", run_dir, "--by", "王科长", "--start", "2025-07-01",
         "--end", "2025-07-07", "--store", store_url)
    _cli("runs", "object", run_dir, "--by", "群众", "--uscc", first.uscc, "--policy",
         first.policy_id, "--text", "该企业已注销", "--on", "2025-07-02", "--store", store_url)
    _cli("runs", "resolve", run_dir, "--by", "李处长", "--objection", "OBJ-0001",
         "--resolution", "upheld", "--effect", "remove", "--note", "经核实已注销",
         "--store", store_url)
    _cli("runs", "finalize", run_dir, "--by", "李处长", "--on", "2025-07-08",
         "--store", store_url)
    log = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    with Store(store_url) as store:
        got = _workflow_actions(store, run_id)
        stamps = [e.at for e in store.audit(target=f"run:{run_id}", limit=1000)]
    actions = [a for a, _, _ in got]
    assert actions[:2] == ["run.start", "run.workflow.generate"]
    steps = [(a, who, d) for a, who, d in got if a.startswith("run.workflow.")]
    assert [a for a, _, _ in steps] == [f"run.workflow.{e['action']}" for e in log] == [
        "run.workflow.generate", "run.workflow.confirm", "run.workflow.publish",
        "run.workflow.object", "run.workflow.resolve", "run.workflow.finalize"]
    assert [who for _, who, _ in steps] == [e["actor"] for e in log] == [
        "policy-match", "王科长", "王科长", "群众", "李处长", "李处长"]
    for (_, _, detail), entry in zip(steps, log, strict=True):
        assert (detail["seq"], detail["from"], detail["to"], detail["hash"]) == \
            (entry["seq"], entry["from"], entry["to"], entry["hash"])
        assert detail["detail"] == entry["detail"]
    assert steps[-1][2]["to"] == "final" and steps[3][2]["detail"]["uscc"] == first.uscc
    assert all(s is not None for s in stamps) and stamps == sorted(stamps, reverse=True)
    assert "run.done" in actions


def test_a_step_the_store_missed_is_copied_later(store_url: str, tmp_path: Path) -> None:
    """The file log is the reference: entries the store lacks are copied, once each."""
    import datetime as dt

    from runs.workflow import Workflow

    out, run_id, run_dir = _store_run(store_url, tmp_path, 60, seed=22)
    Workflow(run_dir).confirm("王科长")  # taken without the store (e.g. it was down)
    with Store(store_url) as store:
        assert [a for a, _, _ in _workflow_actions(store, run_id)
                if a.startswith("run.workflow.")] == ["run.workflow.generate"]
        Workflow(run_dir, store).publish("王科长", dt.date(2025, 7, 1), dt.date(2025, 7, 7))
        assert Workflow(run_dir, store).sync_store() == 0  # nothing left to copy
        steps = [(a, d["seq"]) for a, _, d in _workflow_actions(store, run_id)
                 if a.startswith("run.workflow.")]
    assert steps == [("run.workflow.generate", 1), ("run.workflow.confirm", 2),
                     ("run.workflow.publish", 3)]
