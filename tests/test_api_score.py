"""Relevance in ``GET /firms/{uscc}/matches``: stored by ``recommend --store``, served by the API.

Oracles: the file mode of ``policy-match recommend`` (its scores, for the same firms and
policies) and the stored ``match_results`` rows; the fast path is compared with the
declared FastAPI route (an unknown extra parameter sends a request to the route).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

import api.fastpath
from api import Settings, create_app
from api.match_index import _Scores
from api.schemas.matches import FirmMatchesOut
from cli.main import main
from store.store import Store
from tests._relevance_support import AS_OF, RELEVANCE_DIR
from tests._store_support import postgres_url, store_url  # noqa: F401

FIRMS = RELEVANCE_DIR / "firms.jsonl"
POLICIES = RELEVANCE_DIR / "policies.jsonl"
DAY = AS_OF.isoformat()
# The store rounds with ``f"{v:.4f}"`` (PolicyMatcher.eligibility), the file mode with
# ``np.round(v, 4)``: the two agree except, rarely, on a value a hair from a half step.
ROUNDING = 1e-4 + 1e-12
REAL_ANSWER = api.fastpath.answer


def _load(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_MATCH_DATABASE_URL", url)
    assert main(["import", "profiles", str(FIRMS)]) == 0
    assert main(["import", "policies", str(POLICIES), "--publish"]) == 0


def _recommend_store(capsys: pytest.CaptureFixture[str], *extra: str, day: str = DAY) -> str:
    capsys.readouterr()
    assert main(["recommend", "--store", "--as-of", day, "--encoder", "none",
                 "--no-progress", *extra]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def _stored(store: Store, run_id: str) -> dict[tuple[str, str], tuple[str, float | None]]:
    table = store.results(run_id, limit=10**7)
    return {(u, p): (s, None if sc != sc else sc) for u, p, s, sc in
            zip(table["uscc"], table["policy_id"], table["status"], table["score"],
                strict=True)}


def test_store_mode_scores_equal_file_mode(store_url: str, tmp_path: Path,  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _load(store_url, monkeypatch)
    run_id = _recommend_store(capsys, "--batch-size", "50")
    with Store(store_url) as store:
        run = store.run(run_id)
        assert run is not None and run.kind == "recommend" and run.state == "done"
        assert run.as_of == AS_OF
        stored = _stored(store, run_id)
        assert run.counts["rows"] == len(stored) > 0
        rows = store.results(run_id, limit=10**7)
    assert set(rows["status"]) <= {"eligible", "undetermined"}
    assert rows["score"].notna().all()
    assert (rows.loc[rows["status"] == "eligible", "unmet"] == "").all()
    # The file mode over the same firms, in the store's order (uscc), every open policy.
    firms = sorted((json.loads(x) for x in FIRMS.read_text("utf-8").splitlines() if x.strip()),
                   key=lambda r: r["uscc"])
    profiles = tmp_path / "firms.jsonl"
    profiles.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in firms),
                        encoding="utf-8")
    out = tmp_path / "r.jsonl"
    assert main(["recommend", "--profiles", str(profiles), "--policies", str(POLICIES),
                 "--as-of", DAY, "--out", str(out), "--encoder", "none", "--top", "1000",
                 "--near-misses", "0", "--no-progress"]) == 0
    from_file: dict[tuple[str, str], tuple[str, float]] = {}
    for line in out.read_text("utf-8").splitlines():
        doc = json.loads(line)
        for m in doc["matches"]:
            from_file[(doc["uscc"], m["policy_id"])] = (m["status"], m["score"])
    assert set(from_file) == set(stored)
    exact = 0
    for pair, (status, score) in from_file.items():
        assert stored[pair][0] == status, pair
        got = stored[pair][1]
        assert got is not None and abs(got - score) <= ROUNDING, (pair, got, score)
        exact += got == score
    assert exact >= 0.99 * len(from_file)


def test_store_mode_refuses_file_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLICY_MATCH_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(SystemExit) as e:
        main(["recommend", "--store", "--out", str(tmp_path / "x.jsonl")])
    assert e.value.code == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["recommend", "--profiles", str(FIRMS), "--out", str(tmp_path / "x.jsonl")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--policies" in err and "--as-of" in err


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Store,
                                                                               dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    _load(url, monkeypatch)
    with Store(url) as seed:
        token = seed.create_key("admin", actor="setup")[1]
    # The store is looked at once an hour, or after ``index.touch()`` (what the check
    # interval does for writes by other processes): so the shortcut answers the rest.
    app = create_app(Settings(database_url=url, key_cache_seconds=0,  # type: ignore[call-arg]
                              refresh_seconds=3600, rate_limit=10**6, rate_burst=10**6))
    with TestClient(app) as client:
        yield client, app.state.store, {"Authorization": f"Bearer {token}"}, app.state.index


def _page(client: TestClient, auth: dict[str, str], uscc: str, *,
          via_route: bool = False) -> dict[str, Any]:
    """The page by the shortcut (checked that it answered) or by the declared route."""
    extra = "&via=route" if via_route else ""  # unknown: the shortcut declines it
    url = f"/firms/{uscc}/matches?as_of={DAY}&limit=5000{extra}"
    client.get(url, headers=auth)  # the first look after a touch may go to the route
    answered = []

    def counting(scope: Any) -> bytes | None:
        body = REAL_ANSWER(scope)
        answered.append(body is not None)
        return body

    api.fastpath.answer = counting
    try:
        r = client.get(url, headers=auth)
    finally:
        api.fastpath.answer = REAL_ANSWER
    assert r.status_code == 200, r.text
    assert answered == [not via_route]
    FirmMatchesOut.model_validate(r.json())
    return r.json()


def _usccs(store: Store) -> list[str]:
    frame, _ = store.firms_frame()
    return [str(u) for u in frame["uscc"]]


def test_api_serves_the_latest_done_run(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client, store, auth, index = served
    usccs = _usccs(store)[::20]
    for u in usccs:
        body = _page(client, auth, u)
        assert body["score_run"] is None
        assert all(m["score"] is None for m in body["matches"])
    run_id = _recommend_store(capsys)
    index.touch()
    stored = _stored(store, run_id)
    seen = 0
    for u in usccs:
        fast, route = _page(client, auth, u), _page(client, auth, u, via_route=True)
        assert fast == route
        assert fast["score_run"] == run_id
        for m in fast["matches"]:
            want = stored.get((u, m["policy_id"]))
            if m["status"] == "ineligible":
                assert want is None and m["score"] is None
            else:
                assert want is not None and want[0] == m["status"]
                assert m["score"] == want[1]
                seen += 1
    assert seen > 0
    # A later run replaces it; one that fails or is still running never does.
    newer = _recommend_store(capsys, "--lexical-weight", "0.5")
    assert newer != run_id
    index.touch()
    assert _page(client, auth, usccs[0])["score_run"] == newer
    firm = usccs[0]
    body = _page(client, auth, firm)
    open_ids = [m["policy_id"] for m in body["matches"] if m["status"] != "ineligible"]
    assert open_ids
    for state in ("running", "failed"):
        bad = store.create_run(kind="recommend", as_of=AS_OF, actor="test", params={
            "firms_revision": store.revision("firms_revision"),
            "policies_revision": store.revision("policies_revision")})
        store.write_results(bad.id, pd.DataFrame({
            "uscc": firm, "policy_id": open_ids, "status": "eligible", "amount": None,
            "unmet": "", "unknown": "", "score": 0.12345}))
        if state == "failed":
            store.finish_run(bad.id, state="failed", error="test", actor="test")
        index.touch()
        again = _page(client, auth, firm)
        assert again == body, state
        assert again == _page(client, auth, firm, via_route=True)


def test_failed_cli_run_is_marked_failed_and_ignored(served: Any, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    client, store, auth, index = served
    real = Store.write_results
    calls = {"n": 0}

    def fail_second(self: Store, run_id: str, table: Any, **kw: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(self, run_id, table, **kw)

    monkeypatch.setattr(Store, "write_results", fail_second)
    code = main(["recommend", "--store", "--as-of", DAY, "--encoder", "none", "--no-progress",
                 "--batch-size", "40"])
    assert code != 0
    assert "disk full" in capsys.readouterr().err
    runs = [r for r in store.runs() if r.kind == "recommend"]
    assert len(runs) == 1 and runs[0].state == "failed" and "disk full" in (runs[0].error or "")
    assert not store.results(runs[0].id, limit=1).empty  # the first chunk was written
    assert store.latest_done_run_id("recommend") is None
    index.touch()
    u = _usccs(store)[0]
    body = _page(client, auth, u)
    assert body["score_run"] is None and all(m["score"] is None for m in body["matches"])


def test_a_run_for_the_pages_date_wins_over_a_later_one_for_another(
        served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Scores depend on the evaluation date (a verdict, hence a ranking, changes with it):
    a page for DAY shows the run computed for DAY even after a run for another day."""
    client, store, auth, index = served
    ours = _recommend_store(capsys)
    other_day = (AS_OF + dt.timedelta(days=40)).isoformat()
    later = _recommend_store(capsys, "--lexical-weight", "0.5", day=other_day)
    assert store.latest_done_run_id("recommend") == later
    assert store.latest_done_run_id("recommend", AS_OF) == ours
    assert store.latest_done_run_id("recommend", AS_OF + dt.timedelta(days=1)) == later
    index.touch()
    u = _usccs(store)[0]
    for via_route in (False, True):
        assert _page(client, auth, u, via_route=via_route)["score_run"] == ours


def test_firm_written_after_the_run_has_no_score(served: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    client, store, auth, index = served
    run_id = _recommend_store(capsys)
    index.touch()
    stored = _stored(store, run_id)
    scored = sorted({u for u, _p in stored})
    changed, kept = scored[0], scored[-1]
    assert any(m["score"] is not None for m in _page(client, auth, changed)["matches"])
    record = store.firm(changed)
    assert record is not None
    store.put_firm({**record.record, "name": record.record["name"] + "（更名）"}, actor="test")
    index.touch()
    for via_route in (False, True):
        body = _page(client, auth, changed, via_route=via_route)
        assert body["score_run"] == run_id
        assert all(m["score"] is None for m in body["matches"])
        other = _page(client, auth, kept, via_route=via_route)
        assert any(m["score"] is not None for m in other["matches"])


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(pairs=st.dictionaries(st.tuples(st.sampled_from(["A", "B", "C", "D"]),
                                       st.integers(0, 30)),
                             st.integers(0, 10_000).map(lambda k: k / 10_000), max_size=60),
       unknown_policy=st.integers(0, 30), stale=st.sets(st.sampled_from(["A", "B"])),
       page=st.lists(st.integers(0, 30), max_size=20, unique=True),
       firm=st.sampled_from(["A", "B", "C", "D", "E"]))
def test_score_table_lookup_equals_dict(pairs: dict[tuple[str, int], float],
                                        unknown_policy: int, stale: set[str],
                                        page: list[int], firm: str) -> None:
    ids = [f"p{k}" for k in range(31)]
    index = {q: k for k, q in enumerate(ids) if k != unknown_policy}  # one not published
    items = sorted(pairs.items())
    rows = [(u, ids[k], v) for (u, k), v in items]
    parts = [rows[i:i + 7] for i in range(0, len(rows), 7)]  # read part by part
    table = _Scores.build("run", 0, parts, index, {"p3"}, stale)
    got = table.page_json(firm, np.array(page, dtype=np.int64))
    want = [pairs.get((firm, k)) if firm not in stale and k not in (unknown_policy, 3) else None
            for k in page]
    if got is None:
        assert all(w is None for w in want)
    else:
        assert [json.loads(b) for b in got] == want
    if page:
        shrunk = table.without([firm]).page_json(firm, np.array(page, dtype=np.int64))
        assert shrunk is None


def _policy_page(client: TestClient, auth: dict[str, str], policy_id: str) -> dict[str, Any]:
    r = client.get(f"/policies/{policy_id}/matches?as_of={DAY}&limit=5000", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_policy_pages_carry_the_firm_endpoints_scores(served: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``GET /policies/{id}/matches`` scores a published policy's firms exactly as
    ``GET /firms/{uscc}/matches`` scores the same pairs; a draft has none."""
    client, store, auth, index = served
    published, _rev = store.published_policies()
    first = _policy_page(client, auth, published[0].id)
    assert first["score_run"] is None and all(f["score"] is None for f in first["firms"])
    run_id = _recommend_store(capsys)
    index.touch()
    stored = _stored(store, run_id)
    usccs = _usccs(store)[::15]
    firm_scores = {(u, m["policy_id"]): m["score"] for u in usccs
                   for m in _page(client, auth, u)["matches"]}
    compared = scored = 0
    for policy in published[:8]:
        body = _policy_page(client, auth, policy.id)
        assert body["score_run"] == run_id
        for f in body["firms"]:
            want = stored.get((f["uscc"], policy.id))
            assert f["score"] == (None if want is None else want[1])
            scored += f["score"] is not None
            key = (f["uscc"], policy.id)
            if key in firm_scores:
                assert f["score"] == firm_scores[key], key
                compared += 1
    assert compared > 0 and scored > 0
    # A firm written after the run: no score on either endpoint.
    pid = next(p.id for p in published[:8] for (u, q), v in stored.items()
               if q == p.id and v[1] is not None)
    changed = next(u for (u, q), v in stored.items() if q == pid and v[1] is not None)
    record = store.firm(changed)
    assert record is not None
    store.put_firm({**record.record, "name": record.record["name"] + "（更名）"}, actor="test")
    index.touch()
    body = _policy_page(client, auth, pid)
    mine = [f for f in body["firms"] if f["uscc"] == changed]
    assert len(mine) == 1 and mine[0]["score"] is None
    assert any(f["score"] is not None for f in body["firms"])
    assert all(m["score"] is None for m in _page(client, auth, changed)["matches"])
    # A draft with a published policy's content, under another id: no run scored it.
    store.import_policies([dataclasses.replace(published[0], id="draft-score")], actor="test",
                          source="test")
    draft = _policy_page(client, auth, "draft-score")
    assert draft["score_run"] is None and all(f["score"] is None for f in draft["firms"])
    assert [f["uscc"] for f in draft["firms"]] == [f["uscc"] for f in first["firms"]]
    assert draft["counts"] == first["counts"]
