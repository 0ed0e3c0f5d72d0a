"""Benchmark of the 免申即享 batch run: 1,000,000 firms × 50 policies, end to end.

Every figure comes from its own fresh process (so each peak RSS is that step's own), all
in one invocation, and is reported as a ratio to the evaluation floor measured in the same
run — the machine is shared and noisy:

* floor        ``matcher.eligibility.evaluate`` over all firms already in memory
               (derive, encode, compile, kernel): the evaluation alone.
* floor+rows   the same plus ``matcher.rows.listed_rows`` (eligible/undetermined, firms
               by uscc): the columnar rows the run builds, still without any I/O.
* floor+table  the same plus ``eligibility_table(statuses=eligible/undetermined)``: the
               core's table of strings (for comparison; the run no longer builds it).
* single       ``policy-match run`` (read Parquet, validate, evaluate, stack, checkpoint,
               merge, write CSV and Parquet) in one process.
* dask-2       the same with ``--workers 2`` (a local Dask cluster of two processes,
               cluster start-up included); peak RSS is the driver plus the larger worker ×2.
* excel        the same single-process run writing the Excel workbook too (measured
               separately, as the issue asks).
* small        the single-process run on a quarter of the firms with the same chunk size:
               its peak RSS against the full run's shows memory does not grow with firms.

Usage::

    .venv/bin/python bench/bench_run.py --firms 1000000 --policies 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-30"


def _make_inputs(d: Path, n: int, m: int, seed: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        from bench.synthetic import synthetic_firms, synthetic_policies
    except ImportError:  # pragma: no cover - the shared generator is part of bench/
        raise SystemExit("bench/synthetic.py is needed (synthetic_firms, synthetic_policies)") \
            from None
    from matcher.policy import Policy

    frame = synthetic_firms(n, seed)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, d / "firms.parquet", row_group_size=100_000)
    policies = []
    for p in synthetic_policies(m, seed):
        obj = p.to_json()
        obj["mode"] = "no_application"  # 免申即享: every policy of the benchmark
        policies.append(Policy.from_json(obj).to_json())
    with (d / "policies.jsonl").open("w", encoding="utf-8") as fh:
        for obj in policies:
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return d / "firms.parquet", d / "policies.jsonl"


_FLOOR = r"""
import datetime as dt, json, resource, sys, time
import pyarrow.parquet as pq
import numpy as np
from matcher.eligibility import evaluate, eligibility_table
from matcher.rows import listed_rows
from policies.read import read_policies
from profiles.reference import size_standard
from runs.columns import frame_from_arrow
frame = frame_from_arrow(pq.read_table(sys.argv[1]), "firms.parquet").frame
policies = read_policies(sys.argv[2])
as_of = dt.date.fromisoformat(sys.argv[3])
ss = size_standard()
evaluate(frame.iloc[:2000].reset_index(drop=True), policies, as_of, ss)  # numba warm-up
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
ev = evaluate(frame, policies, as_of, ss)
t_eval, c_eval = time.perf_counter() - t, cpu() - c
t1, c1 = time.perf_counter(), cpu()
order = np.argsort(ev.firms.uscc.astype("S18"), kind="stable")
rows = listed_rows(ev, ["eligible", "undetermined"], order)
t_rows, c_rows = time.perf_counter() - t1, cpu() - c1
t1, c1 = time.perf_counter(), cpu()
table = eligibility_table(ev, statuses=["eligible", "undetermined"])
t_table, c_table = time.perf_counter() - t1, cpu() - c1
assert len(table) == len(rows)
print(json.dumps({"evaluate": t_eval, "evaluate_table": t_eval + t_table, "rows": len(table),
                  "evaluate_rows": t_eval + t_rows, "cpu_evaluate_rows": c_eval + c_rows,
                  "cpu_evaluate": c_eval, "cpu_evaluate_table": c_eval + c_table,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_RUN = r"""
import json, resource, sys, time
from cli.main import main
t = time.perf_counter()
code = main(sys.argv[1:])
wall = time.perf_counter() - t
me = resource.getrusage(resource.RUSAGE_SELF)
ch = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "rss_mb": me.ru_maxrss / 1024,
                  "child_rss_mb": ch.ru_maxrss / 1024,
                  "cpu": me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime}))
"""


def _python(script: str, *args: str | Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run(profiles: Path, policies: Path, out: Path, chunk: int, *extra: str) -> dict[str, float]:
    res = _python(_RUN, "run", "--profiles", profiles, "--policies", policies, "--as-of", AS_OF,
                  "--out", out, "--chunk-size", str(chunk), "--no-progress", *extra)
    if res["code"] != 0:
        raise SystemExit(f"run failed: {res}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--firms", type=int, default=1_000_000)
    ap.add_argument("--policies", type=int, default=50)
    ap.add_argument("--chunk-size", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-excel", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        profiles, policies = _make_inputs(d, args.firms, args.policies, args.seed)
        small_n = max(args.firms // 4, 1)
        (d / "small").mkdir()
        small, _ = _make_inputs(d / "small", small_n, args.policies, args.seed)
        print(f"inputs: {args.firms} firms ({profiles.stat().st_size / 1e6:.0f} MB Parquet), "
              f"{args.policies} policies, generated in {time.perf_counter() - t:.1f} s")
        floor = _python(_FLOOR, profiles, policies, AS_OF)
        csv_pq = "csv,parquet"
        single = _run(profiles, policies, d / "single", args.chunk_size, "--formats", csv_pq)
        dask = _run(profiles, policies, d / "dask", args.chunk_size, "--formats", csv_pq,
                    "--workers", "2")
        same = all((d / "single" / f).read_bytes() == (d / "dask" / f).read_bytes()
                   for f in ("eligible.csv", "eligible.parquet"))
        small_run = _run(small, policies, d / "small_out", args.chunk_size, "--formats", csv_pq)
        excel = None if args.skip_excel else _run(profiles, policies, d / "excel",
                                                  args.chunk_size)
        manifest = json.loads((d / "single" / "manifest.json").read_text())
        rows = manifest["counts"]["rows"]
        size = (d / "single" / "eligible.csv").stat().st_size / 1e6
    e = floor["evaluate"]
    print(f"listed rows: {rows} ({size:.0f} MB CSV); dask output == single output: {same}")
    print(f"{'step':<34}{'wall s':>9}{'× floor':>9}{'CPU s':>9}{'peak RSS MB':>13}")
    lines = [
        ("floor: evaluate (in memory)", e, floor["cpu_evaluate"], floor["rss_mb"]),
        ("floor + listed_rows (columnar)", floor["evaluate_rows"], floor["cpu_evaluate_rows"],
         floor["rss_mb"]),
        ("floor + eligibility_table", floor["evaluate_table"], floor["cpu_evaluate_table"],
         floor["rss_mb"]),
        ("single process, end to end", single["wall"], single["cpu"], single["rss_mb"]),
        ("dask 2 workers, end to end", dask["wall"], dask["cpu"],
         dask["rss_mb"] + 2 * dask["child_rss_mb"]),
        (f"single, {small_n} firms (same chunk)", small_run["wall"], small_run["cpu"],
         small_run["rss_mb"]),
    ]
    if excel is not None:
        lines.append(("single + Excel workbook", excel["wall"], excel["cpu"], excel["rss_mb"]))
    for name, wall, cpu, rss in lines:
        print(f"{name:<34}{wall:>9.2f}{wall / e:>9.1f}{cpu:>9.1f}{rss:>13.0f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores); "
          f"at the start: {load0:.1f}")
    print(f"dask: driver {dask['rss_mb']:.0f} MB, largest worker {dask['child_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
