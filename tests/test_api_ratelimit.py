"""The per-key rate limit: one budget per key across every worker process of a server.

Unit level: two ``SharedTokenBuckets`` over one table file stand for two processes (a
property test checks they decide exactly as one in-process ``TokenBuckets``). Then for
real: ``policy-match serve --workers 2`` on 127.0.0.1, requests on many connections
(which the kernel spreads over both workers — checked by finding which worker process
holds each connection), and the key gets its burst once in total, not once per worker.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.ratelimit import SharedTokenBuckets, TokenBuckets, create_table
from tests._api_support import GOLD, firm_record

CLI = [sys.executable, "-m", "cli.main"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    table = create_table(slots=64, directory=str(tmp_path))
    clock = Clock()
    a, b = (SharedTokenBuckets(table, 60, 4, clock) for _ in range(2))
    got = [(a if i % 2 else b).allow("k1")[0] for i in range(8)]
    assert got == [True] * 4 + [False] * 4
    allowed, wait = a.allow("k1")
    assert not allowed and 0 < wait <= 1.0
    assert b.allow("k2")[0]  # another key has its own bucket
    clock.now += 1.0  # 60 a minute: one token a second, seen by both
    assert b.allow("k1")[0] and not a.allow("k1")[0]
    clock.now += 100.0
    assert sum(a.allow("k1")[0] for _ in range(10)) == 4  # refills to the burst, no more
    a.close()
    b.close()


def test_full_table_reuses_idle_slots_and_never_mixes_keys(tmp_path: Path) -> None:
    table = create_table(slots=4, directory=str(tmp_path))
    clock = Clock()
    buckets = SharedTokenBuckets(table, 60, 2, clock)
    for k in range(4):
        assert buckets.allow(f"key{k}") == (True, 0.0)
    # Every slot holds a half-spent bucket: a fifth key goes to the in-process fallback.
    assert [buckets.allow("key4")[0] for _ in range(3)] == [True, True, False]
    clock.now += 10.0  # all buckets full again: their slots may be reused
    assert [buckets.allow("key5")[0] for _ in range(3)] == [True, True, False]
    assert [buckets.allow("key0")[0] for _ in range(3)] == [True, True, False]
    buckets.close()


def test_not_a_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a policy-match rate table"):
        SharedTokenBuckets(bad, 60, 2)


@settings(max_examples=60, deadline=None)
@given(per_minute=st.integers(1, 600), burst=st.integers(1, 20),
       steps=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "x" * 40]),
                                st.floats(0, 5), st.booleans()), max_size=60))
def test_shared_buckets_decide_as_one_in_process_bucket(
        tmp_path_factory: pytest.TempPathFactory, per_minute: int, burst: int,
        steps: list[tuple[str, float, bool]]) -> None:
    table = create_table(slots=16, directory=str(tmp_path_factory.mktemp("rl")))
    clock = Clock()
    one = TokenBuckets(per_minute, burst, clock)
    shared = [SharedTokenBuckets(table, per_minute, burst, clock) for _ in range(2)]
    for key, advance, which in steps:
        clock.now += advance
        expected = one.allow(key)
        got = shared[which].allow(key)
        assert got[0] == expected[0]
        assert got[1] == pytest.approx(expected[1])
    for s in shared:
        s.close()


# ---------------------------------------------------------------- a real 2-worker server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker_of(server: subprocess.Popen[str], port: int, client_port: int) -> int | None:
    """The worker process holding the server side of the connection from ``client_port``."""
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            for c in child.net_connections(kind="tcp"):
                if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == client_port:
                    return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def _local_port(conn: http.client.HTTPConnection) -> int:
    assert conn.sock is not None
    return int(conn.sock.getsockname()[1])


def test_two_workers_share_the_limit(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "POLICY_MATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'rl.db'}",
           "POLICY_MATCH_RATE_LIMIT": "1", "POLICY_MATCH_RATE_BURST": "6"}
    env.pop("POLICY_MATCH_RATE_TABLE", None)
    run = dict(env=env, cwd=root, capture_output=True, text=True, timeout=120, check=True)
    firms = tmp_path / "firms.jsonl"
    firms.write_text(json.dumps(firm_record(1), ensure_ascii=False), encoding="utf-8")
    subprocess.run([*CLI, "import", "profiles", str(firms), "--no-progress"], **run)  # type: ignore[call-overload]
    subprocess.run([*CLI, "import", "policies", str(GOLD), "--publish"], **run)  # type: ignore[call-overload]
    tokens = [subprocess.run([*CLI, "keys", "create", "--role", "analyst"], **run)  # type: ignore[call-overload]
              .stdout.strip().splitlines()[-1] for _ in range(2)]
    port = _free_port()
    server = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "2", "--log-level", "warning"],
                              env=env, cwd=root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:  # both workers up: two processes listening
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok and len(psutil.Process(server.pid).children()) >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        # Connections until both workers hold some (the kernel hands each to one of them),
        # then one keyed request on each.
        conns: list[http.client.HTTPConnection] = []
        while len(conns) < 200:
            for _ in range(8):
                conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
                conns[-1].connect()
            time.sleep(0.3)
            owners = {_worker_of(server, port, _local_port(c)) for c in conns}
            if len(owners - {None}) >= 2:
                break
        workers, codes = set(), []
        for c in conns:
            c.request("GET", "/stats", headers={"Authorization": f"Bearer {tokens[0]}"})
            r = c.getresponse()
            r.read()
            codes.append(r.status)
            if r.status == 429:
                assert int(r.getheader("Retry-After", "0")) >= 1
            workers.add(_worker_of(server, port, _local_port(c)))
        workers.discard(None)
        assert len(workers) == 2, workers  # both workers answered this key
        assert codes.count(200) == 6, codes  # one burst in total, not one per worker
        assert codes.count(429) == len(codes) - 6
        other = conns[0]
        other.request("GET", "/stats", headers={"Authorization": f"Bearer {tokens[1]}"})
        assert other.getresponse().status == 200  # the limit is per key
        for c in conns:
            c.close()
        tables = {psutil.Process(w).environ().get("POLICY_MATCH_RATE_TABLE") for w in workers}
        assert len(tables) == 1 and None not in tables  # one table, named by serve
        table = Path(str(tables.pop()))
        assert table.exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not table.exists()  # removed when the server stops
