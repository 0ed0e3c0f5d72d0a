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
