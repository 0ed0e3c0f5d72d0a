"""Push detection: one newly published policy against a million stored firms.

Two measurements, each with its same-run baseline:

* **In memory** — the firm table is already encoded (``derive`` + ``encode`` once, not
  timed). *Filter*: compile one policy and run the kernel over the firms
  (``matcher.changes.evaluate_policy``), for each of ``--sample`` policies; *baseline*:
  the same kernel over all ``--policies`` policies at once (a full re-evaluation). Target:
  filter ≤ 50 ms per policy.
* **End to end** — the firms are stored (SQLite file and/or PostgreSQL). A policy is
  published and ``push.detect.detect_pending`` finds its firms: load (projected columns,
  SQL prefilter), filter, explain, diff against the snapshots, and write the columnar
  snapshots + compact fan-out outbox rows in one transaction. Then, off that path, the
  dispatcher's expansion of fan-out rows into per-firm notifications is timed.
  *Baseline*: a full re-evaluation — load every firm with every column the policies
  need, derive, encode, evaluate all policies, explain the matches (no enqueue).
  Target: ≤ 1 s per newly published policy.

    .venv/bin/python bench/bench_push.py                         # 1M firms, both backends
    .venv/bin/python bench/bench_push.py --firms 200000 --backend sqlite
    .venv/bin/python bench/bench_push.py --reuse                 # keep the loaded stores
    .venv/bin/python bench/bench_push.py --reuse --writes        # firm writes only (below)

``--writes`` measures instead the cost of in-transaction detection on firm writes:
20 × ``Store.put_firm`` and one 10,000-firm import chunk, without push listeners (the
baseline) and with them, then ``detect_pending`` over the firms those writes left
pending. The firms rewritten are stored firms with their own profiles, so the stores
keep their million firms.

Stores are built once under ``--work-dir`` (SQLite; default in the system temp folder)
/ database ``pm_bench_push_<firms>`` (PostgreSQL at ``--postgres``) and reused with
``--reuse``; before timing, push tables are emptied and every stored change is marked
processed, so only the sampled policies are new.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies  # noqa: E402
from matcher.changes import evaluate_policies, evaluate_policy, matched_codes  # noqa: E402
from matcher.compile import compile_policies  # noqa: E402
from matcher.derive import derive  # noqa: E402
from matcher.eligibility import Evaluation  # noqa: E402
from matcher.encode import encode  # noqa: E402
from matcher.kernel import evaluate_program  # noqa: E402
from profiles.reference import size_standard  # noqa: E402
from push import fanout  # noqa: E402
from push.detect import Detector, DetectSettings, detect_pending  # noqa: E402
from push.firm_table import encoded, needed_fields, read_firms  # noqa: E402
from push.tables import PUSH_TABLES, push_state  # noqa: E402
from push.warm import WarmFirms  # noqa: E402
from store.events import load_listeners  # noqa: E402
from store.schema import policies as policies_table  # noqa: E402
from store.schema import store_state  # noqa: E402
from store.store import Store  # noqa: E402

FIRM_SEED = 11
POLICY_SEED = 12
NEW_SEED = 13
EXPAND_ROUNDS = 40  # fan-out rows expanded = EXPAND_ROUNDS × push.fanout.EXPAND_BATCH


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summary(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"median": ms(statistics.median(v)), "p90": ms(v[int(0.9 * (len(v) - 1))]),
            "max": ms(v[-1])}


def in_memory(frame: Any, baseline_policies: list[Any], new: list[Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    firms = encode(derive(frame, AS_OF, size_standard()))
    t_encode = time.perf_counter() - t0
    evaluate_policy(firms, new[0], AS_OF)  # JIT warm-up, not measured
    filters, explains, matched = [], [], []
    for p in new:
        t0 = time.perf_counter()
        ev = evaluate_policy(firms, p, AS_OF, size_standard())
        t1 = time.perf_counter()
        m = matched_codes(ev, DetectSettings().k_missing)  # what detection explains
        t2 = time.perf_counter()
        filters.append(t1 - t0)
        explains.append(t2 - t1)
        matched.append(len(m))
    t0 = time.perf_counter()
    program = compile_policies(baseline_policies, firms, AS_OF)
    status = evaluate_program(program, firms)
    t_full = time.perf_counter() - t0
    full_ev = Evaluation(firms, list(baseline_policies), program, status, AS_OF,
                         size_standard())
    t0 = time.perf_counter()
    matched_codes(full_ev, DetectSettings().k_missing)
    t_full_explain = time.perf_counter() - t0
    per_policy_full = t_full / len(baseline_policies)
    return {
        "firms": firms.n, "encode_s": round(t_encode, 2),
        "filter_ms": summary(filters), "explain_ms": summary(explains),
        "matched_rows": {"median": int(np.median(matched)), "max": int(max(matched))},
        "full_kernel_s": round(t_full, 3), "full_policies": len(baseline_policies),
        "full_kernel_per_policy_ms": ms(per_policy_full),
        "full_explain_s": round(t_full_explain, 2),
        "ratio_full_over_filter": round(t_full / statistics.median(filters), 1),
    }


def build_store(url: str, frame: Any, baseline: list[Any], reuse: bool) -> Store:
    store = Store(url)
    if reuse and store.count_firms() == len(frame):
        _analyze(store)
        return store
    t0 = time.perf_counter()
    chunk = 50_000
    for start in range(0, len(frame), chunk):
        recs = firm_records(frame.iloc[start:start + chunk])
        store.import_firms(((r["uscc"], r) for r in recs), source="bench", actor="bench",
                           chunk_size=10_000)
    store.import_policies(baseline, actor="bench", source="bench", publish=True)
    print(f"  built {url}: {len(frame)} firms in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    _analyze(store)
    return store


def _analyze(store: Store) -> None:
    """Planner statistics, as a running server has them (PostgreSQL's autovacuum analyses
    after bulk loads; SQLite only when asked)."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def reset_push(store: Store, new: list[Any]) -> None:
    """Empty the push tables and drop the sampled policies, then mark all as processed."""
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":  # DELETE would leave dead index entries behind
            conn.exec_driver_sql("TRUNCATE " + ", ".join(t.name for t in PUSH_TABLES))
        else:
            for t in reversed(PUSH_TABLES):
                conn.execute(sa.delete(t))
        conn.execute(sa.delete(policies_table).where(policies_table.c.id.in_([p.id for p in new])))
    # Everything already in the store counts as processed: only what is published next is new.
    with store.transaction() as conn:
        for key in ("firms_revision", "policies_revision"):
            value = conn.execute(sa.select(store_state.c.value)
                                 .where(store_state.c.key == key)).scalar_one()
            conn.execute(sa.insert(push_state).values(key=key, value=value))
        conn.execute(sa.insert(push_state).values(key="swept_on", value=AS_OF.toordinal()))


def end_to_end(store: Store, baseline: list[Any], new: list[Any],
               warm: bool = False, with_baseline: bool = True) -> dict[str, Any]:
    """Publish each sampled policy and detect. ``warm``: one detector with a warm firm
    table (``push.warm``), as the dispatcher loop keeps; its build is timed apart."""
    reset_push(store, new)
    detector = Detector(store, warm=WarmFirms() if warm else None)
    warm_build: dict[str, Any] = {}
    if warm:
        import resource

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        with store.transaction(write=False) as conn:
            parts = detector.warm.parts(conn, AS_OF)  # type: ignore[union-attr]
        warm_build = {"s": round(time.perf_counter() - t0, 2),
                      "firms": sum(part.firms.n for part in parts),
                      "max_rss_growth_mb": round((resource.getrusage(
                          resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)}
    totals, phases, loaded, enqueued, per_policy = [], [], [], [], []
    for p in new:
        t0 = time.perf_counter()
        store.put_policy(p, actor="bench", publish=True)
        report = detector.detect_pending(AS_OF)
        totals.append(time.perf_counter() - t0)
        phases.append(report.seconds)
        loaded.append(report.firms_loaded)
        enqueued.append(report.counts.notifications)
        per_policy.append({"policy": p.id, "e2e_ms": ms(totals[-1]),
                           "load_ms": ms(report.seconds.get("load_firms", 0.0)),
                           "enqueue_ms": ms(report.seconds.get("enqueue", 0.0)),
                           "firms_loaded": report.firms_loaded,
                           "notifications": report.counts.notifications,
                           "phases_ms": {k: ms(v) for k, v in report.seconds.items()}})
    phase_median = {k: ms(statistics.median(ph.get(k, 0.0) for ph in phases))
                    for k in ("load_firms", "filter", "explain", "diff", "enqueue",
                              "load_snapshots", "total")}
    if not with_baseline:
        return {"warm": warm, "warm_build": warm_build, "e2e_ms": summary(totals),
                "under_1s": sum(t <= 1.0 for t in totals), "phases_median_ms": phase_median,
                "firms_loaded": {"median": int(np.median(loaded)), "max": int(max(loaded))},
                "notifications": {"median": int(np.median(enqueued)),
                                  "max": int(max(enqueued))},
                "per_policy": per_policy}
    # The dispatcher's side, off the publish path: expanding fan-out rows into per-firm
    # notifications (+ deliveries), timed on the first EXPAND_ROUNDS batches.
    t0 = time.perf_counter()
    _, expanded, _ = fanout.expand(store.transaction, store.clock, lambda now: now,
                                   max_rounds=EXPAND_ROUNDS)
    t_expand = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.transaction(write=False) as conn:
        frame = read_firms(conn, needed_fields(baseline))
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    firms = encoded(frame, AS_OF)
    ev = evaluate_policies(firms, baseline, AS_OF, size_standard())
    t_eval = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = matched_codes(ev, DetectSettings().k_missing)
    t_explain = time.perf_counter() - t0
    full_s = t_load + t_eval + t_explain
    return {
        "warm": warm, "warm_build": warm_build,
        "e2e_ms": summary(totals), "under_1s": sum(t <= 1.0 for t in totals),
        "phases_median_ms": phase_median,
        "firms_loaded": {"median": int(np.median(loaded)), "max": int(max(loaded))},
        "notifications": {"median": int(np.median(enqueued)), "max": int(max(enqueued))},
        "full_reevaluation_s": {"load": round(t_load, 2), "derive_encode_evaluate":
                                round(t_eval, 2), "explain": round(t_explain, 2),
                                "total": round(full_s, 2), "matched_rows": len(full)},
        "ratio_full_over_e2e": round(full_s / statistics.median(totals), 1),
        "expand": {"notifications": expanded, "s": round(t_expand, 2),
                   "us_per_notification": round(t_expand / max(expanded, 1) * 1e6, 1)},
        "per_policy": per_policy,
    }


def firm_writes(url: str, frame: Any) -> dict[str, Any]:
    """Firm writes without, then with, the push listeners; then the backlog they left."""
    out: dict[str, Any] = {}
    for listen, offset in ((False, 400_000), (True, 500_000)):
        store = Store(url)
        if listen:
            load_listeners(store)
        offset = min(offset, max(len(frame) - 10_120, 0))
        times = []
        for rec in firm_records(frame.iloc[offset:offset + 20]):
            t0 = time.perf_counter()
            store.put_firm(rec, actor="bench")
            times.append(time.perf_counter() - t0)
        chunk = firm_records(frame.iloc[offset + 100:offset + 10_100])
        t0 = time.perf_counter()
        store.import_firms(((r["uscc"], r) for r in chunk), source="bench", actor="bench",
                           chunk_size=10_000)
        t_chunk = time.perf_counter() - t0
        out["with_detection" if listen else "without"] = {
            "put_firm_ms": summary(times), "import_chunk_10k_s": round(t_chunk, 2)}
        store.close()
    store = Store(url)
    t0 = time.perf_counter()
    report = detect_pending(store, AS_OF)
    out["backlog"] = {"firms": report.firms, "s": round(time.perf_counter() - t0, 2),
                      "phases_s": {k: round(v, 2) for k, v in report.seconds.items()}}
    store.close()
    w, wo = out["with_detection"], out["without"]
    out["ratio_put_firm_median"] = round(w["put_firm_ms"]["median"]
                                         / max(wo["put_firm_ms"]["median"], 0.1), 1)
    out["ratio_import_chunk"] = round(w["import_chunk_10k_s"]
                                      / max(wo["import_chunk_10k_s"], 0.01), 2)
    return out


def postgres_database(admin_url: str, name: str, fresh: bool) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--firms", type=int, default=1_000_000)
    ap.add_argument("--policies", type=int, default=200,
                    help="published policies: the full re-evaluation baseline")
    ap.add_argument("--sample", type=int, default=15, help="newly published policies timed")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both", "none"),
                    default="both")
    ap.add_argument("--work-dir",
                    default=str(Path(tempfile.gettempdir()) / "policy-match-bench-push"),
                    help="where the SQLite store is built (about 1.2 GB for a million firms)")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="a database on the server to create pm_bench_push from")
    ap.add_argument("--reuse", action="store_true", help="reuse stores built by a previous run")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--mode", choices=("warm", "cold", "both"), default="both",
                    help="detect with a warm firm table (the dispatcher loop), cold (a "
                         "one-shot command that loads the firms per policy), or both")
    ap.add_argument("--writes", action="store_true",
                    help="measure firm writes with/without in-transaction detection only")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    frame = synthetic_firms(args.firms, seed=FIRM_SEED)
    baseline = synthetic_policies(args.policies, seed=POLICY_SEED)
    new = [p for p in synthetic_policies(args.sample * 2, seed=NEW_SEED)
           if p.valid_on(AS_OF)][: args.sample]
    new = [type(p)(**{**p.__dict__, "id": f"new-{p.id}"}) for p in new]
    print(f"generated {args.firms} firms, {len(baseline)} + {len(new)} policies "
          f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    results: dict[str, Any] = {"firms": args.firms, "policies": len(baseline),
                               "sample": len(new)}
    if not args.writes:
        results["in_memory"] = in_memory(frame, baseline, new)
        print(json.dumps(results["in_memory"], ensure_ascii=False), file=sys.stderr)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else (
        [] if args.backend == "none" else [args.backend])
    for backend in backends:
        if backend == "sqlite":
            work = Path(args.work_dir)
            work.mkdir(parents=True, exist_ok=True)
            db = work / f"push_{args.firms}.db"
            if not args.reuse and db.exists():
                db.unlink()
            url = f"sqlite:///{db}"
        else:
            url = postgres_database(args.postgres, f"pm_bench_push_{args.firms}", not args.reuse)
        store = build_store(url, frame, baseline, args.reuse)
        if args.writes:
            store.close()
            results[backend] = firm_writes(url, frame)
        else:
            modes = {"warm": [True], "cold": [False], "both": [True, False]}[args.mode]
            for warm in modes:
                key = f"{backend}_{'warm' if warm else 'cold'}"
                results[key] = end_to_end(store, baseline, new, warm,
                                          with_baseline=warm is modes[0])
                print(key, json.dumps(results[key], ensure_ascii=False), file=sys.stderr)
            store.close()
            continue
        print(backend, json.dumps(results[backend], ensure_ascii=False), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
