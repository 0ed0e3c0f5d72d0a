"""A progress bar on stderr for long work (tqdm), or a silent stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm


class _Silent:
    def update(self, n: int = 1) -> None:
        return None


@contextmanager
def progress(total: int, desc: str, enabled: bool = True, unit: str = "policy") -> Iterator[Any]:
    """A bar counting ``unit``s up to ``total`` (tqdm on stderr, hidden when not ``enabled``)."""
    if not enabled:
        yield _Silent()
        return
    with tqdm(total=total, desc=desc, unit=unit, file=None, mininterval=0.5) as bar:
        yield bar
