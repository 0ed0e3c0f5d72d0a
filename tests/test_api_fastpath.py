"""The shortcut for ``GET /firms/{uscc}/matches`` answers exactly as the declared route.

Oracle: the same request with one extra, unknown query parameter, which the shortcut
never takes and FastAPI ignores — so it is answered by the route in api/routes/firms.py.
Generated requests cover every role, own/other/missing firms, parameter values on and
beyond their bounds, and malformed ones; status, headers that matter and bodies must be
identical, and the shortcut must have answered every 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import api.fastpath
from api.deps import today
from api.fastpath import parse_query
from tests._api_support import AS_OF, World, make_world

ROLES = ["admin", "officer", "analyst", "firm", None, "wrong"]
AS_OFS = [None, AS_OF, "2026-01-01", "1990-01-01", "1989-12-31", "2100-12-31", "2101-01-01",
          "2026-02-30", "20260630", "2026-6-30", ""]
LIMITS = [None, 0, 1, 3, 50, 5000, 5001, "07", "x", "-1", "2.0", ""]
OFFSETS = [None, 0, 2, 15, 10_000_000, 10_000_001, "00", "-3"]
REAL_ANSWER = api.fastpath.answer
STATUS = ["eligible", "undetermined", "ineligible", "maybe", "eligible,ineligible", ""]


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("fast") / "fast.db"
    # Store revisions looked at once an hour: a request the shortcut declines because the
    # matcher must first look at the store (FastAPI then does, off the event loop) is rare.
    yield from make_world(f"sqlite:///{path}", rate_limit=10**6, rate_burst=10**6,
                          refresh_seconds=3600)


class Counting:
    """Counts the shortcut's answers (a wrapper around ``api.fastpath.answer``)."""

    def __init__(self) -> None:
        self.answered = 0

    def __call__(self, scope: Any) -> bytes | None:
        body = REAL_ANSWER(scope)
        self.answered += body is not None
        return body


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(role=st.sampled_from(["firm", "officer", "admin"]) | st.sampled_from(ROLES),
       firm=st.just("a") | st.sampled_from(["a", "b", "missing", "lower"]),
       as_of=st.sampled_from([AS_OF, None]) | st.sampled_from(AS_OFS),
       limit=st.sampled_from([None, 1, 5, 50]) | st.sampled_from(LIMITS),
       offset=st.sampled_from([None, 0, 3, 15]) | st.sampled_from(OFFSETS),
       status=st.lists(st.sampled_from(STATUS[:3]), max_size=2)
       | st.lists(st.sampled_from(STATUS), max_size=3))
def test_shortcut_answers_exactly_as_the_route(
        shared_world: World, monkeypatch: pytest.MonkeyPatch, role: str | None, firm: str,
        as_of: str | None, limit: object, offset: object, status: list[str]) -> None:
    w = shared_world
    uscc = {"a": w.firm_a, "b": w.firm_b, "missing": "91430111MA4L000000",
            "lower": w.firm_a.lower()}[firm]
    params: list[tuple[str, object]] = [(k, v) for k, v in (
        ("as_of", as_of), ("limit", limit), ("offset", offset)) if v is not None]
    params += [("status", s) for s in status]
    headers = {} if role is None else (
        {"Authorization": "Bearer pm_000000000000_wrong"} if role == "wrong" else w.auth(role))
    url = f"/firms/{uscc}/matches"
    query = urlencode(params)
    parsed = parse_query(query.encode())
    index = w.client.app.state.index  # type: ignore[attr-defined]
    warm = parsed is not None and not index.needs_prepare(
        parsed[0] or today(w.client.app.state.settings))  # type: ignore[attr-defined]
    counter = Counting()
    monkeypatch.setattr(api.fastpath, "answer", counter)
    fast = w.client.get(f"{url}?{query}", headers=headers)
    slow = w.client.get(f"{url}?{query}&zz=1", headers=headers)
    assert counter.answered <= (fast.status_code == 200)  # never an error from the shortcut
    if warm and fast.status_code == 200:
        assert counter.answered == 1  # …and every 200 it can give
    assert fast.status_code == slow.status_code, (url, query, fast.text, slow.text)
    assert fast.content == slow.content, (url, query)
    assert fast.headers.get("content-type") == slow.headers.get("content-type")
    assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")


def test_the_shortcut_serves_the_common_requests(shared_world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counting()
    monkeypatch.setattr(api.fastpath, "answer", counter)
    w = shared_world
    w.client.app.state.index.prepare(__import__("datetime").date.fromisoformat(AS_OF))  # type: ignore[attr-defined]
    for params, role in (({"as_of": AS_OF}, "firm"), ({"as_of": AS_OF, "limit": 5}, "officer"),
                         ({"as_of": AS_OF, "status": "eligible", "offset": 1}, "admin")):
        assert w.client.get(f"/firms/{w.firm_a}/matches", params=params,
                            headers=w.auth(role)).status_code == 200
    assert counter.answered == 3


@pytest.mark.parametrize("query,expected", [
    (b"", (None, [], 50, 0)),
    (b"as_of=2026-06-30&limit=5&offset=0&status=eligible&status=undetermined",
     (__import__("datetime").date(2026, 6, 30), ["eligible", "undetermined"], 5, 0)),
    (b"as_of=2026%2D06%2D30", None),  # escapes: FastAPI decodes them
    (b"limit=5&limit=6", None),  # repeated single value: FastAPI's rule
    (b"limit=05", None), (b"limit=0", None), (b"limit=5001", None), (b"offset=-1", None),
    (b"as_of=2101-01-01", None), (b"as_of=2026-02-30", None), (b"status=maybe", None),
    (b"other=1", None), (b"limit", None),
])
def test_parse_query_takes_only_plain_valid_queries(query: bytes, expected: object) -> None:
    assert parse_query(query) == expected


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'rl.db'}", rate_limit=60, rate_burst=3)


def test_each_request_spends_one_token_whoever_answers(limited: World) -> None:
    w, h = limited, limited.auth("officer")
    url = f"/firms/{w.firm_a}/matches"
    codes = [w.client.get(url, params={"as_of": AS_OF}, headers=h).status_code,
             w.client.get("/firms/91430111MA4L000000/matches", params={"as_of": AS_OF},
                          headers=h).status_code,
             w.client.get(url, params={"as_of": AS_OF}, headers=h).status_code,
             w.client.get(url, params={"as_of": AS_OF}, headers=h).status_code]
    assert codes == [200, 404, 200, 429]


def test_shortcut_bounds_are_the_routes(shared_world: World) -> None:
    spec = shared_world.client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in
              spec["paths"]["/firms/{uscc}/matches"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == api.fastpath.LIMIT_RANGE
    assert params["limit"]["default"] == api.fastpath.DEFAULT_LIMIT
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == api.fastpath.OFFSET_RANGE
    assert params["uscc"]["maxLength"] == api.fastpath.USCC_MAX
