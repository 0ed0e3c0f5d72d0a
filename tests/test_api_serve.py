"""``policy-match serve`` for real: uvicorn on 127.0.0.1, keys from the CLI, HTTP over loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

from tests._api_support import AS_OF, GOLD, firm_record

CLI = [sys.executable, "-m", "cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_over_http(tmp_path: Path) -> None:
    env = {**os.environ, "POLICY_MATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'srv.db'}"}
    root = Path(__file__).resolve().parents[1]
    firms = tmp_path / "firms.jsonl"
    firms.write_text("\n".join(json.dumps(firm_record(i), ensure_ascii=False) for i in range(3)),
                     encoding="utf-8")
    run = dict(env=env, cwd=root, capture_output=True, text=True, timeout=120, check=True)
    subprocess.run([*CLI, "import", "profiles", str(firms), "--no-progress"], **run)  # type: ignore[call-overload]
    subprocess.run([*CLI, "import", "policies", str(GOLD), "--publish"], **run)  # type: ignore[call-overload]
    uscc = str(firm_record(1)["uscc"])
    out = subprocess.run([*CLI, "keys", "create", "--role", "firm", "--uscc", uscc], **run)  # type: ignore[call-overload]
    token = out.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        h = {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{base}/firms/{uscc}/matches", params={"as_of": AS_OF}, headers=h,
                      timeout=30)
        assert r.status_code == 200 and r.json()["total"] == 16
        assert r.headers["content-type"].startswith("application/json")
        other = str(firm_record(2)["uscc"])
        assert httpx.get(f"{base}/firms/{other}", headers=h, timeout=10).status_code == 404
        assert httpx.get(f"{base}/firms/{uscc}", timeout=10).status_code == 401
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        tables = {Path(f.path) for f in psutil.Process(server.pid).open_files()
                  if Path(f.path).name.startswith("policy-match-rate-")}
        assert len(tables) == 1  # the rate-limit table serve made
        table = tables.pop()
        assert table.exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not table.exists()  # removed on SIGTERM
