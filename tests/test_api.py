# ruff: noqa: F811  (pytest fixtures imported from the support module)
"""The HTTP API over a real SQLite store: roles, the firm-404 rule, errors, verdicts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.schemas.matches import FirmMatchesOut
from matcher.eligibility import eligibility_table, evaluate
from profiles.reference import size_standard
from tests._api_support import AS_OF, GOLD, World, firm_record, make_world, world  # noqa: F401
from tests._store_support import postgres_url  # noqa: F401

SAMPLE = {"uscc": "{uscc}", "policy_id": "{policy_id}", "key_id": "{key_id}", "run_id": "{run_id}"}


def _operations(w: World, keyed: bool = True) -> list[tuple[str, str]]:
    """(method, path) of every documented operation that needs a key (or every one)."""
    spec = w.client.get("/openapi.json").json()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m, op in ops.items()
            if op.get("security") or not keyed]


def _fill(path: str, w: World, uscc: str) -> str:
    run = w.store.create_run(kind="test", as_of=__import__("datetime").date(2026, 6, 30),
                             actor="t")
    key_id = w.store.keys()[0].id
    path = (path.replace("{uscc}", uscc).replace("{policy_id}", w.policies[0].id)
            .replace("{key_id}", key_id).replace("{run_id}", run.id))
    return re.sub(r"\{[^}]+\}", "1", path)  # other packages' ids (notifications …)


def _body(method: str, path: str, w: World, uscc: str) -> dict[str, object]:
    if method not in ("PUT", "POST"):
        return {}
    if path == "/firms/{uscc}" and method == "PUT":
        return {"json": {**firm_record(2, region="430104"), "uscc": uscc}}
    if path == "/firms/{uscc}/subscription":  # issue 6's interface
        return {"json": {"channels": [], "digest": "immediate", "daily_cap": 3}}
    if path.endswith("/import"):
        return {"files": {"file": ("x.jsonl", b"{}\n")}}
    if path.startswith("/policies"):
        return {"json": w.policies[1].to_json() | ({"id": w.policies[0].id} if "{" in path
                                                  or path.count("/") > 1 else {})}
    if path == "/keys":
        return {"json": {"role": "analyst"}}
    return {}


def test_docs_and_health_need_no_key(world: World) -> None:
    assert world.client.get("/health").json() == {"status": "ok"}
    assert world.client.get("/docs").status_code == 200
    assert "/firms/{uscc}/matches" in world.client.get("/openapi.json").json()["paths"]


def test_every_route_refuses_missing_or_wrong_keys(world: World) -> None:
    operations = _operations(world)
    assert ("GET", "/health") not in operations and len(operations) >= 17
    for method, path in operations:
        url = _fill(path, world, world.firm_b)
        for headers in ({}, {"Authorization": "Bearer pm_000000000000_wrong"},
                        {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
            r = world.client.request(method, url, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"


def test_firm_key_never_sees_another_firm(world: World) -> None:
    """Every route: another firm's URL is 404, and no response carries its USCC or name."""
    other = world.store.firm(world.firm_b)
    assert other is not None
    name = str(other.record["name"])
    checked = 0
    for method, path in _operations(world):
        url = _fill(path, world, world.firm_b)
        r = world.client.request(method, url, headers=world.auth("firm"),
                                 **_body(method, path, world, world.firm_b))  # type: ignore[arg-type]
        assert name not in r.text, (method, path, r.text)
        if "{uscc}" not in path:  # the USCC may only come back as the echo of the URL
            assert world.firm_b not in r.text, (method, path, r.text)
            assert r.status_code in (200, 403, 404), (method, path, r.status_code, r.text)
        else:
            missing = world.client.request(
                method, _fill(path, world, "91430111MA4L000000"), headers=world.auth("firm"),
                **_body(method, path, world, "91430111MA4L000000"))  # type: ignore[arg-type]
            assert r.status_code == 404, (method, path, r.text)
            assert r.json() == {"detail": f"no firm {world.firm_b}"}
            assert missing.status_code == 404
            checked += 1
    assert checked >= 3
    stored = world.store.firm(world.firm_b)
    assert stored is not None and stored.record == other.record  # nothing was written


def test_firm_key_reads_and_updates_its_own_profile(world: World) -> None:
    own = f"/firms/{world.firm_a}"
    r = world.client.get(own, headers=world.auth("firm"))
    assert r.status_code == 200 and r.json()["profile"]["uscc"] == world.firm_a
    body = {**r.json()["profile"], "employees": 321}
    r = world.client.put(own, json=body, headers=world.auth("firm"))
    assert r.status_code == 200 and r.json()["profile"]["employees"] == 321
    assert r.json()["created"] is False
    assert world.client.get(f"{own}/matches", params={"as_of": AS_OF},
                            headers=world.auth("firm")).status_code == 200
    assert world.client.get(f"{own}/matches".lower(), params={"as_of": AS_OF},
                            headers=world.auth("firm")).status_code == 200


def test_roles(world: World) -> None:
    c = world.client
    pid = world.policies[0].id
    assert c.get(f"/firms/{world.firm_b}", headers=world.auth("analyst")).status_code == 403
    assert c.get(f"/firms/{world.firm_b}", headers=world.auth("officer")).status_code == 200
    assert c.put(f"/firms/{world.firm_b}", json=firm_record(2, region="430104"),
                 headers=world.auth("officer")).status_code == 403
    assert c.get(f"/policies/{pid}/matches", headers=world.auth("analyst")).status_code == 403
    assert c.get(f"/policies/{pid}/stats", params={"as_of": AS_OF},
                 headers=world.auth("analyst")).status_code == 200
    assert c.get("/stats", headers=world.auth("analyst")).json()["firms"] == 11
    assert c.post(f"/policies/{pid}/withdraw", headers=world.auth("analyst")).status_code == 403
    assert c.get("/audit", headers=world.auth("officer")).status_code == 403
    assert c.get("/audit", headers=world.auth("admin")).status_code == 200
    r = c.post("/keys", json={"role": "firm", "uscc": world.firm_b}, headers=world.auth("admin"))
    assert r.status_code == 201 and r.json()["token"].startswith("pm_")
    assert c.get(f"/firms/{world.firm_b}",
                 headers={"Authorization": f"Bearer {r.json()['token']}"}).status_code == 200


def test_drafts_are_hidden_from_firms_and_analysts(world: World) -> None:
    c = world.client
    draft = {**world.policies[0].to_json(), "id": "draft-1", "title": "草案"}
    r = c.post("/policies", json=draft, headers=world.auth("officer"))
    assert r.status_code == 201 and r.json()["state"] == "draft"
    assert c.post("/policies", json=draft, headers=world.auth("officer")).status_code == 409
    for role in ("firm", "analyst"):
        assert c.get("/policies/draft-1", headers=world.auth(role)).status_code == 404
        ids = [p["id"] for p in c.get("/policies", params={"limit": 5000},
                                      headers=world.auth(role)).json()["items"]]
        assert "draft-1" not in ids and len(ids) == len(world.policies)
    assert c.get("/policies/draft-1", headers=world.auth("officer")).status_code == 200
    r = c.post("/policies/draft-1/publish", headers=world.auth("officer"))
    assert r.json()["state"] == "published"
    assert c.post("/policies/draft-1/publish", headers=world.auth("officer")).status_code == 409
    assert c.get("/policies/draft-1", headers=world.auth("firm")).status_code == 200


def test_policy_list_filters(world: World) -> None:
    c = world.client
    items = c.get("/policies", params={"mode": "no_application", "limit": 5000},
                  headers=world.auth("officer")).json()["items"]
    assert {p["id"] for p in items} == {p.id for p in world.policies if p.mode == "no_application"}
    day = "2023-01-01"
    items = c.get("/policies", params={"valid_on": day, "limit": 5000},
                  headers=world.auth("officer")).json()["items"]
    import datetime as dt
    assert {p["id"] for p in items} == {
        p.id for p in world.policies if p.valid_on(dt.date.fromisoformat(day))}
    items = c.get("/policies", params={"region": "440305", "limit": 5000},
                  headers=world.auth("officer")).json()["items"]
    assert all(not p["regions"] or any("440305".startswith(x) for x in p["regions"])
               for p in items)
    assert len(items) < len(world.policies)


def _oracle(w: World, uscc: str) -> dict[str, dict[str, object]]:
    frame, _ = w.store.firms_frame()
    ev = evaluate(frame, w.policies, __import__("datetime").date(2026, 6, 30), size_standard())
    t = eligibility_table(ev)
    return {r["policy_id"]: r for r in t[t.uscc == uscc].to_dict("records")}


def test_firm_matches_equal_the_batch_table(world: World) -> None:
    r = world.client.get(f"/firms/{world.firm_a}/matches", params={"as_of": AS_OF},
                         headers=world.auth("firm"))
    assert r.status_code == 200
    body = r.json()
    assert FirmMatchesOut.model_validate(body).model_dump(mode="json") == body  # the schema
    oracle = _oracle(world, world.firm_a)
    assert body["total"] == len(world.policies) == sum(body["counts"].values())
    ranks = {"eligible": 0, "undetermined": 1, "ineligible": 2}
    assert [ranks[m["status"]] for m in body["matches"]] == sorted(
        ranks[m["status"]] for m in body["matches"])
    for m in body["matches"]:
        row = oracle[m["policy_id"]]
        assert m["status"] == row["status"]
        assert " | ".join(m["unmet"]) == row["unmet"]
        assert " | ".join(m["unknown"]) == row["unknown"]
        expected = None if row["amount"] == "" else float(row["amount"])
        assert m["amount"] == expected
    assert b"\\u" not in r.content and "测试" not in r.text  # no escapes; names not in verdicts
    assert any(re.search("[\u4e00-\u9fff]", t) for m in body["matches"] for t in m["unmet"]) or \
        any(re.search("[\u4e00-\u9fff]", m["title"]) for m in body["matches"])
    page = world.client.get(f"/firms/{world.firm_a}/matches",
                            params={"as_of": AS_OF, "limit": 3, "offset": 2,
                                    "status": ["undetermined", "ineligible"]},
                            headers=world.auth("firm")).json()
    wanted = [m for m in body["matches"] if m["status"] != "eligible"]
    assert page["total"] == len(wanted) and page["matches"] == wanted[2:5]


def test_verdicts_follow_writes_at_once(world: World) -> None:
    c, h = world.client, world.auth("admin")
    url = f"/firms/{world.firm_a}/matches"
    before = c.get(url, params={"as_of": AS_OF}, headers=h).json()
    new = {**world.policies[0].to_json(), "id": "new-1", "title": "新政策", "conditions": None,
           "valid_from": None, "valid_until": None}
    c.post("/policies", json=new, params={"publish": "true"}, headers=h)
    after = c.get(url, params={"as_of": AS_OF}, headers=h).json()
    assert after["total"] == before["total"] + 1
    assert after["matches"][0]["status"] == "eligible"
    c.post("/policies/new-1/withdraw", headers=h)
    assert c.get(url, params={"as_of": AS_OF}, headers=h).json()["total"] == before["total"]
    # A profile change is seen at once (overlay), without a rebuild.
    profile = c.get(f"/firms/{world.firm_a}", headers=h).json()["profile"]
    profile.pop("qualifications")
    c.put(f"/firms/{world.firm_a}", json=profile, headers=h)
    changed = c.get(url, params={"as_of": AS_OF}, headers=h).json()
    assert changed["counts"] != before["counts"]
    oracle = _oracle(world, world.firm_a)
    assert {m["policy_id"]: m["status"] for m in changed["matches"]} == {
        k: v["status"] for k, v in oracle.items()}


def test_policy_matches_paginated_by_uscc(world: World) -> None:
    c, h = world.client, world.auth("officer")
    pid = world.policies[0].id
    full = c.get(f"/policies/{pid}/matches", params={"as_of": AS_OF, "limit": 1000},
                 headers=h).json()
    assert full["total"] == 11 and [f["uscc"] for f in full["firms"]] == sorted(
        f["uscc"] for f in full["firms"])
    frame, _ = world.store.firms_frame()
    import datetime as dt
    t = eligibility_table(evaluate(frame, world.policies, dt.date(2026, 6, 30), size_standard()))
    t = t[t.policy_id == pid].set_index("uscc")
    for f in full["firms"]:
        assert f["status"] == t.loc[f["uscc"], "status"]
        assert " | ".join(f["unmet"]) == t.loc[f["uscc"], "unmet"]
    status = full["firms"][0]["status"]
    part = c.get(f"/policies/{pid}/matches",
                 params={"as_of": AS_OF, "status": status, "limit": 2, "offset": 1},
                 headers=h).json()
    same = [f for f in full["firms"] if f["status"] == status]
    assert part["total"] == len(same) and part["firms"] == same[1:3]
    assert c.get("/policies/nope/matches", headers=h).status_code == 404


@pytest.mark.parametrize("body,field,message", [
    ({"uscc": "91430111MA4L000001", "name": "x"}, "uscc", "invalid USCC"),
    ({"name": "x", "revenue": "lots"}, "revenue", "valid number"),
    ({"name": "x", "revenue": -5}, "revenue", "greater than or equal"),
    ({"name": "x", "region_code": "999999"}, "region_code", "GB/T 2260"),
    ({"name": "x", "yingye_shouru": 5}, "yingye_shouru", "not a contract field"),
    ({"name": "x", "qualifications": [{"name": "高企", "level": "galactic"}]},
     "qualifications[0].level", "Input should be"),
])
def test_bad_firm_input_is_422_with_record_and_field(world: World, body: dict, field: str,
                                                     message: str) -> None:
    payload = {"uscc": world.firm_a, **body}
    url = f"/firms/{payload['uscc']}"
    r = world.client.put(url, json=payload, headers=world.auth("admin"))
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]
    assert any(p["field"] == field and message in p["message"] for p in problems), problems
    assert all(p["record"] in (payload["uscc"], "body") for p in problems)


def test_malformed_json_and_bad_policy_tree(world: World) -> None:
    h = {**world.auth("admin"), "content-type": "application/json"}
    r = world.client.put(f"/firms/{world.firm_a}", content=b'{"uscc": ', headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["message"].startswith("malformed JSON")
    bad = {**world.policies[0].to_json(), "id": "bad-1",
           "conditions": {"all": [{"field": "revenue", "op": ">=", "value": 1},
                                  {"field": "revenue", "op": "has", "value": 1}]}}
    r = world.client.post("/policies", json=bad, headers=world.auth("admin"))
    assert r.status_code == 422
    assert r.json()["detail"] == [{"record": "bad-1", "field": "conditions.all[1].op",
                                   "message": r.json()["detail"][0]["message"]}]
    assert "has" in r.json()["detail"][0]["message"]


def test_bulk_import_upload_reports_per_record_errors(world: World, tmp_path: Path) -> None:
    good = [firm_record(i) for i in range(40, 45)]
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    lines.insert(2, json.dumps({"uscc": "123", "name": "坏记录"}, ensure_ascii=False))
    lines.append("{not json")
    data = ("\n".join(lines) + "\n").encode()
    r = world.client.post("/firms/import", files={"file": ("企业.jsonl", data)},
                          headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["written"] == 5 and body["state"] == "done"
    assert [(e["record"], e["field"]) for e in body["errors"]] == [("企业.jsonl:3", "uscc"),
                                                                  ("企业.jsonl:7", None)]
    csv = "统一社会信用代码,企业名称,营业收入(万元)\n" + f"{good[0]['uscc']},改名企业,1234\n"
    r = world.client.post("/firms/import", files={"file": ("x.csv", csv.encode("utf-8-sig"))},
                          headers=world.auth("admin"))
    assert r.json()["written"] == 1
    got = world.client.get(f"/firms/{good[0]['uscc']}", headers=world.auth("admin")).json()
    assert got["profile"]["revenue"] == 12_340_000 and got["profile"]["name"] == "改名企业"
    r = world.client.post("/firms/import", files={"file": ("x.pdf", b"%PDF")},
                          headers=world.auth("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["record"] == "x.pdf"


def test_policy_document_upload_is_parsed_into_a_draft(world: World) -> None:
    doc = sorted((GOLD.parent / "policies").glob("*.txt"))[0]
    r = world.client.post("/policies/upload", params={"policy_id": "uploaded-1"},
                          files={"file": (doc.name, doc.read_bytes())},
                          headers=world.auth("officer"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "uploaded-1" and body["state"] == "draft"
    assert body["document"]["text"] and body["title"]
    assert world.client.get("/policies/uploaded-1", headers=world.auth("firm")).status_code == 404
    r = world.client.post("/policies/upload", files={"file": ("x.docx", b"not a docx")},
                          headers=world.auth("officer"))
    assert r.status_code == 422 and r.json()["detail"][0]["record"] == "x.docx"


def test_policy_file_upload_and_publish(world: World) -> None:
    lines = [json.dumps({**p.to_json(), "id": f"up-{i}"}, ensure_ascii=False)
             for i, p in enumerate(world.policies[:3])]
    r = world.client.post("/policies/import", params={"publish": "true"},
                          files={"file": ("p.jsonl", "\n".join(lines).encode())},
                          headers=world.auth("officer"))
    assert r.json() == {"created": 3, "updated": 0, "unchanged": 0, "published": 3}
    broken = lines[:1] + ['{"id": "x", "mode": "sometimes"}']
    r = world.client.post("/policies/import",
                          files={"file": ("p.jsonl", "\n".join(broken).encode())},
                          headers=world.auth("officer"))
    assert r.status_code == 422 and r.json()["detail"][0]["record"] == "p.jsonl:2"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'rl.db'}", rate_limit=60, rate_burst=3)


def test_rate_limit_is_per_key(limited: World) -> None:
    c = limited.client
    codes = [c.get("/stats", headers=limited.auth("analyst")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.get("/stats", headers=limited.auth("analyst"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert c.get("/stats", headers=limited.auth("officer")).status_code == 200


def test_revoked_key_is_refused(world: World) -> None:
    key_id = world.tokens["analyst"].split("_")[1]
    assert world.client.get("/stats", headers=world.auth("analyst")).status_code == 200
    world.client.post(f"/keys/{key_id}/revoke", headers=world.auth("admin"))
    assert world.client.get("/stats", headers=world.auth("analyst")).status_code == 401


@pytest.fixture
def pg_world(postgres_url: str) -> Iterator[World]:  # noqa: F811
    from tests._store_support import _empty

    _empty(postgres_url)
    yield from make_world(postgres_url)


def test_same_api_on_postgresql(pg_world: World) -> None:
    r = pg_world.client.get(f"/firms/{pg_world.firm_a}/matches", params={"as_of": AS_OF},
                            headers=pg_world.auth("firm"))
    assert r.status_code == 200 and r.json()["total"] == len(pg_world.policies)
    assert pg_world.client.get(f"/firms/{pg_world.firm_b}/matches",
                               headers=pg_world.auth("firm")).status_code == 404
