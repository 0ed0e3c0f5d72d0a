"""The same run on a real dask.distributed LocalCluster gives the same bytes as one process."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from policies.read import read_policies
from profiles.reference import size_standard
from runs.batch import RunJob, evaluate_chunk, select_policies
from runs.distributed import dask_executor
from runs.runner import RunOptions, start_run
from runs.sources import ProfileSource
from runs.stacking import stacking_rules
from tests._run_support import firm_records, policy_objects, write_jsonl, write_parquet

AS_OF = dt.date(2025, 6, 30)
FILES = ("eligible.csv", "eligible.xlsx", "eligible.parquet", "adjustments.csv", "skipped.csv")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("dask")
    records = firm_records(1500, seed=21)
    records[17]["uscc"] = "not-a-code"  # a bad record travels through workers as an error
    return (write_parquet(d / "firms.parquet", records),
            write_jsonl(d / "firms.jsonl", records),
            write_jsonl(d / "p.jsonl", policy_objects()))


def test_job_and_chunks_survive_pickling(inputs: tuple[Path, Path, Path]) -> None:
    """What is shipped to workers round-trips and evaluates to the same rows."""
    policies = select_policies(read_policies(inputs[2]), "no_application")
    job = RunJob(tuple(policies), AS_OF, size_standard(), stacking_rules(policies))
    job2 = pickle.loads(pickle.dumps(job))
    for path in inputs[:2]:
        k, payload = next(iter(ProfileSource(path).chunks(400)))
        a = evaluate_chunk(k, payload, job)
        b = evaluate_chunk(k, pickle.loads(pickle.dumps(payload)), job2)
        assert a.rows.equals(b.rows) and a.adjustments.equals(b.adjustments)
        assert a.errors == b.errors and len(a.errors) == 1


def test_local_cluster_output_equals_single_process(inputs: tuple[Path, Path, Path],
                                                    tmp_path: Path) -> None:
    parquet, jsonl, policies = inputs
    single = start_run(RunOptions(parquet, policies, AS_OF, tmp_path / "single",
                                  chunk_size=200))
    with dask_executor(workers=2) as ex:
        assert len(ex.client.scheduler_info()["workers"]) == 2
        dist = start_run(RunOptions(parquet, policies, AS_OF, tmp_path / "dask", chunk_size=200,
                                    execution={"executor": "dask-local", "workers": 2}), ex)
        start_run(RunOptions(jsonl, policies, AS_OF, tmp_path / "dask_jsonl",
                                          chunk_size=200), ex)
    assert dist.manifest["firms"]["evaluated"] == single.manifest["firms"]["evaluated"] == 1499
    for name in FILES:
        expected = (tmp_path / "single" / name).read_bytes()
        assert (tmp_path / "dask" / name).read_bytes() == expected, name
    for name in ("eligible.csv", "eligible.xlsx", "eligible.parquet", "adjustments.csv"):
        assert (tmp_path / "dask_jsonl" / name).read_bytes() == \
            (tmp_path / "single" / name).read_bytes(), name
    assert dist.manifest["counts"] == single.manifest["counts"]
    assert dist.manifest["execution"]["workers"] == 2


def test_scheduler_address_on_loopback(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """``--scheduler tcp://HOST:PORT``: a cluster started elsewhere, reached over TCP."""
    from distributed import LocalCluster

    parquet, _, policies = inputs
    single = start_run(RunOptions(parquet, policies, AS_OF, tmp_path / "single",
                                  chunk_size=500))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with dask_executor(scheduler=cluster.scheduler_address) as ex:
            remote = start_run(RunOptions(parquet, policies, AS_OF, tmp_path / "remote",
                                          chunk_size=500), ex)
    assert remote.manifest["outputs"] == single.manifest["outputs"]
