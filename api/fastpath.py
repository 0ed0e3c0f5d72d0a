"""A shortcut for the hot route, ``GET /firms/{uscc}/matches``, around FastAPI's machinery.

Why: with verdicts kept in memory and serialised from precomputed fragments, FastAPI's
routing, dependency resolution and parameter validation cost more CPU per request than
the answer itself (measured with cProfile on the in-process ASGI call: ~0.3 ms of the
~0.45 ms a page cost). This ASGI middleware answers the common request — well-formed,
with a valid key of an allowed role, within its rate, for a stored firm the key may
see — with the same checks the declared route makes, in the same order of effect.

Everything else goes on to FastAPI untouched: any request that would not be a 200 (401,
403, 404, 422, 429), and any query the shortcut does not parse itself (percent-escapes,
repeated or unknown parameters, non-canonical numbers). So every error, its message, the
OpenAPI docs and the validation semantics come from the one declared route in
``api/routes/firms.py``; the shortcut only makes the success path cheap. A token of the
key's rate is spent only when the shortcut answers, so a request handed on is counted
once, by FastAPI.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import today

PREFIX = "/firms/"
SUFFIX = "/matches"
READ_ROLES = frozenset({"admin", "officer", "firm"})  # as ``firms.Reader``
STATUSES = {b"eligible": "eligible", b"undetermined": "undetermined",
            b"ineligible": "ineligible"}
# The bounds of the route's Query declarations (api/routes/firms.py), checked by a test.
AS_OF_RANGE = (dt.date(1990, 1, 1), dt.date(2100, 12, 31))
LIMIT_RANGE = (1, 5000)
OFFSET_RANGE = (0, 10_000_000)
DEFAULT_LIMIT = 50
USCC_MAX = 64
_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}")
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _number(value: bytes, low: int, high: int) -> int | None:
    """A plain decimal in [low, high]; None for anything else (FastAPI then decides)."""
    if not value.isdigit() or len(value) > 9 or (len(value) > 1 and value[:1] == b"0"):
        return None
    n = int(value)
    return n if low <= n <= high else None


def _date(value: bytes) -> dt.date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        day = dt.date.fromisoformat(value.decode())
    except ValueError:
        return None
    return day if AS_OF_RANGE[0] <= day <= AS_OF_RANGE[1] else None


def parse_query(query: bytes) -> tuple[dt.date | None, list[str], int, int] | None:
    """(as_of, statuses, limit, offset) of a plain query string, or None to let FastAPI
    parse it (escapes, repeats of a single-valued parameter, unknown names, bad values)."""
    as_of: dt.date | None = None
    statuses: list[str] = []
    limit, offset = DEFAULT_LIMIT, 0
    if not query:
        return as_of, statuses, limit, offset
    if b"%" in query or b"+" in query:
        return None
    seen: set[bytes] = set()
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name == b"status":
            status = STATUSES.get(value)
            if status is None:
                return None
            statuses.append(status)
            continue
        if name in seen:
            return None
        seen.add(name)
        if name == b"as_of":
            as_of = _date(value)
            if as_of is None:
                return None
        elif name == b"limit":
            got = _number(value, *LIMIT_RANGE)
            if got is None:
                return None
            limit = got
        elif name == b"offset":
            got = _number(value, *OFFSET_RANGE)
            if got is None:
                return None
            offset = got
        else:
            return None
    return as_of, statuses, limit, offset


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The credentials of the first Authorization header, as ``HTTPBearer`` reads them."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() != "bearer" or not credentials:
                return None
            return credentials
    return None


def answer(scope: Scope) -> bytes | None:
    """The 200 body for this request, or None to hand it to FastAPI."""
    path: str = scope["path"]
    uscc = path[len(PREFIX):-len(SUFFIX)]
    if (not uscc or "/" in uscc or len(uscc) > USCC_MAX or scope.get("root_path")):
        return None
    query = parse_query(scope.get("query_string", b""))
    if query is None:
        return None
    token = bearer_token(scope["headers"])
    if token is None:
        return None
    state: Any = scope["app"].state
    key = state.keys.verify(token)
    if key is None or key.role not in READ_ROLES:
        return None
    code = uscc.strip().upper()
    if key.role == "firm" and code != key.uscc:
        return None
    as_of, statuses, limit, offset = query
    day = as_of or today(state.settings)
    index = state.index
    if index.needs_prepare(day):  # a build may take seconds: FastAPI runs it off the loop
        return None
    body: bytes | None = index.firm_json(code, day, statuses=statuses, limit=limit,
                                         offset=offset)
    if body is None or not state.buckets.allow(key.id)[0]:
        return None
    return body


class FirmMatchesShortcut:
    """ASGI middleware: answer ``GET /firms/{uscc}/matches`` directly when it is a 200."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET"
                and scope["path"].startswith(PREFIX) and scope["path"].endswith(SUFFIX)):
            body = answer(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_JSON_HEADERS,
                                        (b"content-length", b"%d" % len(body))]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
