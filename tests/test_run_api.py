"""Batch runs over HTTP: live progress and the confirmation workflow, with roles."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import Settings, create_app
from api.routes import runs as runs_routes
from cli.main import main
from profiles.read import normalize_profile
from tests._run_support import firm_records, policy_objects, write_jsonl


def _with_runs_routes(app: FastAPI) -> FastAPI:
    """The app as ``create_app`` builds it, with the runs router if it is not registered."""
    if not any(getattr(r, "path", None) == "/runs/{run_id}/confirm" for r in app.routes):
        app.include_router(runs_routes.router)
    return app


def test_progress_and_workflow_over_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    app = _with_runs_routes(create_app(Settings(database_url=url, key_cache_seconds=0,
                                                refresh_seconds=0)))
    store = app.state.store
    records = firm_records(120, seed=17)
    store.import_firms(((f"f:{i}", normalize_profile(r, f"f:{i}"))
                        for i, r in enumerate(records)), source="f", actor="test")
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["run", "--store", url, "--policies", str(policies), "--as-of",
                     "2025-06-30", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    run_id = buf.getvalue().strip().splitlines()[-1]
    tokens = {role: store.create_key(role, actor="test")[1]
              for role in ("officer", "analyst")}
    tokens["firm"] = store.create_key("firm", uscc=records[0]["uscc"], actor="test")[1]

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    with TestClient(app) as client:
        r = client.get(f"/runs/{run_id}/progress", headers=auth("analyst"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "done" and body["progress"]["firms_done"] == 120
        assert body["workflow_state"] == "generated"
        assert client.get(f"/runs/{run_id}", headers=auth("analyst")).json()["state"] == "done"
        assert client.get(f"/runs/{run_id}/progress", headers=auth("firm")).status_code == 403
        assert client.get(f"/runs/{run_id}/progress").status_code == 401
        assert client.get("/runs/nope/progress", headers=auth("officer")).status_code == 404
        # analysts read, officers act
        assert client.post(f"/runs/{run_id}/confirm", json={},
                           headers=auth("analyst")).status_code == 403
        r = client.post(f"/runs/{run_id}/publish", json={"start": "2025-07-01",
                                                        "end": "2025-07-07"},
                        headers=auth("officer"))
        assert r.status_code == 409 and "needs confirmed" in r.json()["detail"]
        r = client.post(f"/runs/{run_id}/confirm", json={"note": "核对无误"},
                        headers=auth("officer"))
        assert r.status_code == 200 and r.json()["to"] == "confirmed"
        assert client.post(f"/runs/{run_id}/publish", json={"start": "2025-07-01",
                                                             "end": "2025-07-07"},
                           headers=auth("officer")).status_code == 200
        r = client.post(f"/runs/{run_id}/objections", headers=auth("officer"), json={
            "uscc": records[0]["uscc"], "policy_id": "gaoqi", "text": "应列入",
            "on": "2025-07-02"})
        assert r.status_code == 201
        oid = r.json()["detail"]["objection_id"]
        r = client.post(f"/runs/{run_id}/objections/{oid}/resolve", headers=auth("officer"),
                        json={"resolution": "rejected", "note": "不符合条件"})
        assert r.status_code == 200
        r = client.post(f"/runs/{run_id}/objections/{oid}/resolve", headers=auth("officer"),
                        json={"resolution": "upheld"})
        assert r.status_code == 422  # no note: bad input, named
        r = client.post(f"/runs/{run_id}/finalize", json={"on": "2025-07-08"},
                        headers=auth("officer"))
        assert r.status_code == 200 and r.json()["to"] == "final"
        log = client.get(f"/runs/{run_id}/audit", headers=auth("analyst")).json()
        assert [e["action"] for e in log] == ["generate", "confirm", "publish", "object",
                                              "resolve", "finalize"]
        assert log[1]["actor"] != log[0]["actor"]
        # every step over HTTP is in the store's audit log too, with the key's actor
        stored = [e for e in store.audit(target=f"run:{run_id}", limit=100)[::-1]
                  if e.action.startswith("run.workflow.")]
        assert [(e.action, e.actor, e.detail["hash"]) for e in stored] == [
            (f"run.workflow.{e['action']}", e["actor"], e["hash"]) for e in log]
