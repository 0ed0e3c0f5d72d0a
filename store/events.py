"""In-transaction hooks, so that other packages act atomically with the store's writes.

Push notifications must be enqueued in the same transaction that publishes a policy or
changes a firm (an outbox); batch runs may want to know when policies change. Rather
than the store knowing those packages, they register callables here::

    store.listen("policies.published", enqueue)   # enqueue(conn, ids)

Each listener runs inside the writing transaction with its connection; if it raises,
the whole write rolls back. ``load_listeners`` imports the optional modules named in
``LISTENER_MODULES`` (each defines ``register(store)``) when they exist, which is how the
CLI and the API pick them up without importing them by name.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

EVENTS: tuple[str, ...] = (
    "firms.changed",  # payload: list of USCCs written in this transaction
    "policies.created",  # payload: list of policy ids
    "policies.updated",  # payload: list of policy ids whose document changed
    "policies.published",  # payload: list of policy ids
    "policies.withdrawn",  # payload: list of policy ids
)
LISTENER_MODULES: tuple[str, ...] = ("push.listeners", "runs.listeners")

Listener = Callable[[sa.Connection, list[str]], Any]


class Listeners:
    """Callables per event name, called in registration order."""

    def __init__(self) -> None:
        self._by_event: dict[str, list[Listener]] = defaultdict(list)

    def add(self, event: str, fn: Listener) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown store event {event!r}; known: {', '.join(EVENTS)}")
        self._by_event[event].append(fn)

    def emit(self, conn: sa.Connection, event: str, payload: list[str]) -> None:
        if payload:
            for fn in self._by_event.get(event, ()):
                fn(conn, payload)


def load_listeners(store: Any, modules: Sequence[str] = LISTENER_MODULES) -> list[str]:
    """Import each existing listener module and let it ``register(store)``; names loaded."""
    loaded = []
    for name in modules:
        parent = name.rsplit(".", 1)[0]
        if importlib.util.find_spec(parent) is None or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(store)
        loaded.append(name)
    return loaded
