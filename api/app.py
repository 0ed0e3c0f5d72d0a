"""The application factory: one store, one warm matcher, routers per resource."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import APIRouter, FastAPI

import api.routes
from api import errors
from api.deps import KeyCache
from api.fastpath import FirmMatchesShortcut
from api.match_index import MatchIndex
from api.ratelimit import SharedTokenBuckets, TokenBuckets
from api.settings import Settings
from profiles.reference import size_standard
from store.events import load_listeners
from store.store import Store

DESCRIPTION = """
政策找企业 — which enterprise-support policies fit which firms.

Send `Authorization: Bearer <key>`; keys are made with `policy-match keys create --role ROLE`.
Roles: **admin** (everything), **officer** (policies, runs, every firm's verdicts),
**analyst** (read-only aggregates), **firm** (its own profile and verdicts only; any other
firm's URL answers 404). Money is in yuan; absent fields mean unknown.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API over the store named by ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    store = Store(settings.database_url)
    load_listeners(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()
        close = getattr(_app.state.buckets, "close", None)
        if close is not None:
            close()

    app = FastAPI(title=settings.title, version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.index = MatchIndex(store, size_standard(), check_interval=settings.refresh_seconds,
                                 overlay_limit=settings.overlay_limit, freeze_gc=True)
    app.state.keys = KeyCache(store, settings.key_cache_seconds)
    app.state.buckets = (
        SharedTokenBuckets(settings.rate_table, settings.rate_limit, settings.rate_burst)
        if settings.rate_table else TokenBuckets(settings.rate_limit, settings.rate_burst))
    errors.install(app)
    app.add_middleware(FirmMatchesShortcut)  # the hot route's 200s; all else to the routes
    for module in route_modules():
        app.include_router(module.router)
    return app


def route_modules() -> list[ModuleType]:
    """Every ``api/routes/<resource>.py`` that defines a ``router``, in name order, so a
    package (push, runs) adds its resource by adding a module, without editing this one."""
    found = []
    for info in sorted(pkgutil.iter_modules(api.routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.routes.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            found.append(module)
    return found


def app_from_env() -> FastAPI:
    """Entry for ``uvicorn --factory api.app:app_from_env`` (several worker processes)."""
    return create_app(Settings.from_env())
