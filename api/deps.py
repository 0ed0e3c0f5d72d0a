"""Dependencies: the store, the warm matcher, who is calling, and what they may see.

Authorization is by role, checked before anything is looked up. A ``firm`` key is bound
to one USCC: any other firm's URL answers 404 exactly as for a firm that does not
exist, so a firm learns nothing about others — not even whether they are stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.match_index import MatchIndex
from api.ratelimit import TokenBuckets
from api.settings import Settings
from store.keys import ApiKey
from store.store import Store

bearer = HTTPBearer(
    auto_error=False,
    description="an API key made by `policy-match keys create --role ROLE`",
)


class KeyCache:
    """Verified keys, trusted for ``ttl`` seconds so a request costs no database query.

    Revoking a key takes effect within ``ttl``. Entries are keyed by a hash of the token,
    so raw secrets are not kept in memory longer than the request.
    """

    def __init__(self, store: Store, ttl: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[ApiKey | None, float]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> ApiKey | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        now = self.clock()
        hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        key = self.store.verify_key(token)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (key, now + self.ttl)
        return key

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# ``async`` although they do no I/O: FastAPI runs plain ``def`` dependencies in its
# thread pool, a thread hop per dependency per request.
async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_index(request: Request) -> MatchIndex:
    return request.app.state.index  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(get_store)]
IndexDep = Annotated[MatchIndex, Depends(get_index)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The API key of the request: 401 if missing or wrong, 429 if over its rate."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = request.app.state.keys.verify(credentials.credentials)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    buckets: TokenBuckets = request.app.state.buckets
    allowed, wait = buckets.allow(key.id)
    if not allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {buckets.rate * 60:.0f} requests a minute exceeded for this key",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


Caller = Annotated[ApiKey, Depends(caller)]


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency admitting only ``roles`` (403 for the others)."""

    async def check(key: Caller) -> ApiKey:
        if key.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"the {key.role} role may not do this (allowed: {', '.join(roles)})",
            )
        return key

    return check


def not_found_firm(uscc: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no firm {uscc}")


def visible_uscc(key: ApiKey, uscc: str) -> str:
    """The USCC of the URL, upper-cased; 404 if a firm key asks for another firm."""
    code = uscc.strip().upper()
    if key.role == "firm" and code != key.uscc:
        raise not_found_firm(code)
    return code


UsccPath = Annotated[str, Path(description="统一社会信用代码 of the firm", max_length=64)]


async def firm_scope(uscc: UsccPath, key: Caller) -> str:
    """The URL's USCC if this key may address that firm (a dependency, so that the 404
    comes before the request body is even validated)."""
    return visible_uscc(key, uscc)


FirmScope = Annotated[str, Depends(firm_scope)]


def today(settings: Settings) -> dt.date:
    """The default ``as_of`` of a request: today's date where the policies apply."""
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()
