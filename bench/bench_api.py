"""API latency and throughput: ``GET /firms/{uscc}/matches`` against a trivial endpoint.

Setup: a store (SQLite file by default, or ``--database-url``) with ``--firms`` synthetic
firms and ``--policies`` published synthetic policies (``bench/synthetic.py``), served by
``policy-match serve`` (uvicorn) on 127.0.0.1. Load: a separate process with
``--concurrency`` keep-alive HTTP/1.1 connections, each sending its next request as soon
as the previous answer arrives, for ``--duration`` seconds per endpoint; every request
of the match phase asks for a different, random stored firm (no response cache helps).

The ceiling is ``GET /health`` of the same server, measured in the same run, so the ratio
says how much of the framework's own throughput the match endpoint keeps.

    .venv/bin/python bench/bench_api.py            # 100k firms, 2,000 policies, 30 s each
    .venv/bin/python bench/bench_api.py --firms 1000000 --import-only   # bulk import only
    .venv/bin/python bench/bench_api.py --policy-pages  # GET /policies/{id}/matches, in process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies  # noqa: E402
from store.store import Store  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(url: str, n_firms: int, n_policies: int, chunk: int) -> tuple[list[str], dict]:
    t0 = time.perf_counter()
    frame = synthetic_firms(n_firms, seed=1)
    records = firm_records(frame)
    t_gen = time.perf_counter() - t0
    store = Store(url)
    t0 = time.perf_counter()
    report = store.import_firms(((str(i), r) for i, r in enumerate(records)),
                                source="synthetic", actor="bench", chunk_size=chunk)
    t_import = time.perf_counter() - t0
    policies = synthetic_policies(n_policies, seed=2)
    t0 = time.perf_counter()
    store.import_policies(policies, actor="bench", source="synthetic", publish=True)
    t_pol = time.perf_counter() - t0
    store.close()
    usccs = [str(r["uscc"]) for r in records]
    return usccs, {"generate_s": t_gen, "import_firms_s": t_import, "written": report.written,
                   "import_policies_s": t_pol}


# ---------------------------------------------------------------- load generator
async def _worker(host: str, port: int, paths: list[str], headers: str, stop_at: float,
                  lat: list[int], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = random.randrange(len(paths))
    while time.perf_counter() < stop_at:
        path = paths[i % len(paths)]
        i += 1
        t = time.perf_counter_ns()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        lat.append(time.perf_counter_ns() - t)
        if status != 200:
            errors.append(status)
    writer.close()


def _load(host: str, port: int, paths: list[str], headers: str, concurrency: int,
          duration: float, out: mp.Queue) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    lat: list[int] = []
    errors: list[int] = []

    async def main() -> None:
        stop_at = time.perf_counter() + duration
        await asyncio.gather(*[_worker(host, port, paths, headers, stop_at, lat, errors)
                               for _ in range(concurrency)])

    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(main())
    out.put((lat, errors, time.perf_counter() - t0, time.process_time() - c0))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the server and its workers)."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(port: int, paths: list[str], token: str | None, concurrency: int,
            duration: float, server_pid: int | None = None) -> dict[str, float]:
    """Throughput and latency, plus CPU per request of the server and of the client —
    on a shared 2-core machine the CPU split says whether the load generator, not the
    server, is what limits the throughput."""
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=_load, args=("127.0.0.1", port, paths, headers, concurrency,
                                       duration, q))
    s0 = _cpu_seconds(server_pid) if server_pid else 0.0
    p.start()
    lat, errors, wall, client_cpu = q.get()
    p.join()
    server_cpu = (_cpu_seconds(server_pid) - s0) if server_pid else float("nan")
    ms = np.array(lat) / 1e6
    n = max(1, len(ms))
    return {"requests": len(ms), "rps": len(ms) / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": len(errors),
            "server_cpu_ms": server_cpu / n * 1e3, "client_cpu_ms": client_cpu / n * 1e3}


def asgi_cpu(url: str, token: str, paths: list[str], n: int = 3000) -> dict[str, float]:
    """CPU milliseconds per request through the app itself (no server, no sockets).

    Counts only this process's CPU time, so it holds on a busy machine where wall-clock
    latencies are mostly other processes' noise; what it leaves out is the HTTP server's
    own share, the same for both endpoints.
    """
    from api import Settings, create_app

    app = create_app(Settings(database_url=url, rate_limit=10**9, rate_burst=10**9,
                              refresh_seconds=3600))

    async def call(path: str, auth: bool) -> int:
        p, _, q = path.partition("?")
        headers = [(b"host", b"bench")]
        if auth:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": p, "raw_path": p.encode(),
                 "query_string": q.encode(), "headers": headers, "root_path": "",
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def run() -> dict[str, float]:
        assert await call(paths[0], True) == 200
        snap = app.state.index.snapshot(AS_OF)
        while len(snap.base.patterns) < len(snap.policies):
            await asyncio.sleep(0.2)
        for path in paths[:500]:
            await call(path, True)
        out = {}
        for name, batch, auth in (("health", ["/health"] * n, False),
                                  ("matches", (paths * 2)[500:500 + n], True)):
            t = time.process_time()
            for path in batch:
                assert await call(path, auth) == 200
            out[name] = (time.process_time() - t) / len(batch) * 1e3
        return out

    return asyncio.run(run())


def policy_pages(url: str, limit: int, n: int = 200) -> None:
    """Latency of a page of ``GET /policies/{id}/matches`` (what the route awaits), for the
    published policy most firms are not ineligible for: random offsets over all its firms,
    then only the eligible ones; then the same content as an unpublished draft (compiled
    once on the first page, from the cache after)."""
    import dataclasses

    from api.match_index import MatchIndex
    from profiles.reference import size_standard

    store = Store(url)
    # No background explanation tables: each page's reasons come from the kernel (the
    # slower way; a warm server looks them up), and nothing competes for the CPU.
    index = MatchIndex(store, size_standard(), check_interval=3600, background=False)
    t0 = time.perf_counter()
    index.prepare(AS_OF)
    built = time.perf_counter() - t0
    policies, _rev = store.published_policies()
    t0 = time.perf_counter()
    open_counts = [sum(index.policy_page(p, AS_OF, limit=1).counts[s]
                       for s in ("eligible", "undetermined")) for p in policies]
    counted = (time.perf_counter() - t0) / len(policies)
    broad = policies[int(np.argmax(open_counts))]
    draft = dataclasses.replace(broad, id="bench-draft")
    rng = random.Random(3)
    print(f"policy pages: matcher built in {built:.1f} s; counts of all {len(policies)} "
          f"policies {counted * 1e3:.2f} ms each; broadest {broad.id}: "
          f"{max(open_counts)} eligible or undetermined firms")
    for label, policy, statuses in (("published, all statuses", broad, ()),
                                    ("published, eligible", broad, ("eligible",)),
                                    ("draft copy, all statuses", draft, ())):
        times = []
        total = 0
        for _ in range(n):
            total = index.policy_page(policy, AS_OF, statuses=statuses, limit=1).total
            offset = rng.randrange(max(1, total - limit))
            t = time.perf_counter()
            page = index.policy_page(policy, AS_OF, statuses=statuses, limit=limit,
                                     offset=offset)
            times.append(time.perf_counter() - t)
            assert len(page.items) == min(limit, total - offset)
        ms = np.array(times) * 1e3
        print(f"  {label:26s} limit={limit}: p50 {np.percentile(ms, 50):6.2f} ms  "
              f"p99 {np.percentile(ms, 99):6.2f} ms  ({n} pages at random offsets of "
              f"{total} firms)")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--policies", type=int, default=2_000)
    ap.add_argument("--database-url", default=None, help="default: a SQLite file in a temp dir")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per endpoint")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=45.0,
                    help="seconds of light load before measuring (explanation tables)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--chunk-size", type=int, default=10_000)
    ap.add_argument("--limit", type=int, default=50,
                    help="matches page size asked for (the API's default is 50)")
    ap.add_argument("--import-only", action="store_true")
    ap.add_argument("--policy-pages", action="store_true",
                    help="only time pages of the broadest policy's firms (MatchIndex.policy_page, "
                    "in process), published and as a draft copy")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="pm-bench-")
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    usccs, setup = build_store(url, args.firms, args.policies, args.chunk_size)
    print(f"setup: {args.firms} firms generated in {setup['generate_s']:.1f} s, imported in "
          f"{setup['import_firms_s']:.1f} s ({args.firms / setup['import_firms_s']:,.0f} firms/s, "
          f"chunks of {args.chunk_size}); {args.policies} policies imported+published in "
          f"{setup['import_policies_s']:.1f} s")
    if args.import_only:
        return
    if args.policy_pages:
        policy_pages(url, args.limit)
        return
    with Store(url) as store:
        token = store.create_key("officer", actor="bench", label="bench")[1]
    port = _free_port()
    env = {**os.environ, "POLICY_MATCH_DATABASE_URL": url, "POLICY_MATCH_RATE_LIMIT": "100000000",
           "POLICY_MATCH_RATE_BURST": "100000000", "POLICY_MATCH_REFRESH_SECONDS": "5"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import httpx

        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        rng = random.Random(7)
        sample = rng.sample(usccs, min(len(usccs), 20_000))
        paths = [f"/firms/{u}/matches?as_of={AS_OF}&limit={args.limit}" for u in sample]
        # Warm every worker: the first request per worker builds its in-memory matcher,
        # then a background thread fills the explanation tables; keep a light load on
        # for --warmup seconds so both are done before measuring.
        warm = httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"})
        for path in paths[:20 * args.workers]:
            r = warm.get(f"http://127.0.0.1:{port}{path}")
            assert r.status_code == 200, r.text
        built = time.perf_counter() - t0
        measure(port, paths, token, 2, args.warmup)
        body = warm.get(f"http://127.0.0.1:{port}{paths[0]}").json()
        print(f"warm-up: matcher built in {args.workers} worker(s) in {built:.1f} s, then "
              f"{args.warmup:.0f} s of light load; a response: counts={body['counts']}, "
              f"{len(body['matches'])} matches, {len(json.dumps(body, ensure_ascii=False))} chars")
        trivial = measure(port, ["/health"], None, args.concurrency, args.duration, server.pid)
        match = measure(port, paths, token, args.concurrency, args.duration, server.pid)
        full = measure(port, [p.replace(f"limit={args.limit}", f"limit={args.policies}")
                              for p in paths], token, args.concurrency, args.duration / 3,
                       server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    for name, m in (("GET /health (ceiling)", trivial),
                    (f"GET /firms/{{uscc}}/matches limit={args.limit}", match),
                    (f"GET /firms/{{uscc}}/matches limit={args.policies} (all)", full)):
        print(f"{name:48s} {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.2f} ms  "
              f"p99 {m['p99_ms']:6.2f} ms  ({m['requests']} requests, {m['errors']} non-200); "
              f"CPU/request: server {m['server_cpu_ms']:.3f} ms, client "
              f"{m['client_cpu_ms']:.3f} ms")
    print(f"match / ceiling throughput: {match['rps'] / trivial['rps']:.0%} "
          f"(target ≥ 50 %); p99 {match['p99_ms']:.1f} ms (target ≤ 25 ms) at concurrency "
          f"{args.concurrency}, {args.workers} worker(s)")
    both = [m["server_cpu_ms"] + m["client_cpu_ms"] for m in (trivial, match)]
    print(f"CPU per request, server + client: /health {both[0]:.3f} ms, matches {both[1]:.3f} ms "
          f"(ratio {both[0] / both[1]:.0%}: the throughput ratio a CPU-bound machine allows); "
          f"load generator's share of the CPU: /health "
          f"{trivial['client_cpu_ms'] / both[0]:.0%}, "
          f"matches {match['client_cpu_ms'] / both[1]:.0%}")
    cpu = asgi_cpu(url, token, paths)
    print(f"in-process CPU per request (ASGI, no server): /health {cpu['health']:.3f} ms, "
          f"matches limit={args.limit} {cpu['matches']:.3f} ms "
          f"(ratio {cpu['health'] / cpu['matches']:.0%})")


if __name__ == "__main__":
    main()
