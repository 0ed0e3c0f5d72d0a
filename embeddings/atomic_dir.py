"""Build a model folder once, atomically: in a temporary folder, renamed into place last.

A reader therefore sees either no folder or a complete one, never half a model; two
processes building at once serialise on a lock file, and the second finds the work done.
The manifest (``policy_match_model.json``) written inside the folder records what was
built from what, so a changed builder or source triggers a rebuild instead of a stale reuse.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST = "policy_match_model.json"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` when the folder is absent or not one of ours."""
    try:
        with open(folder / MANIFEST, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(folder: Path, manifest: dict[str, Any]) -> bool:
    """True when ``folder`` holds a finished build whose manifest matches ``manifest``."""
    found = read_manifest(folder)
    return found is not None and all(found.get(k) == v for k, v in manifest.items())


@contextmanager
def _locked(parent: Path, name: str) -> Iterator[None]:
    parent.mkdir(parents=True, exist_ok=True)
    with open(parent / f".{name}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def build_once(
    target: Path,
    manifest: dict[str, Any],
    build: Callable[[Path], None],
    force: bool = False,
) -> bool:
    """Make ``target`` a finished build described by ``manifest``; return True if built now.

    ``build(tmp)`` fills a fresh temporary folder next to ``target``; the manifest is
    written after it succeeds, then the folder is renamed into place (an older build is
    moved aside first and deleted after). If ``build`` raises, nothing at ``target`` changes.
    """
    target = Path(target)
    if not force and is_current(target, manifest):
        return False
    with _locked(target.parent, target.name):
        if not force and is_current(target, manifest):
            return False  # another process finished it while we waited
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        old: Path | None = None
        try:
            build(tmp)
            with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
                json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=True)
                f.write("\n")
            _make_readable(tmp)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rename(target, old / "model")
            os.rename(tmp, target)
        except BaseException:
            if old is not None and not target.exists():
                os.rename(old / "model", target)  # put the previous build back
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return True


def _make_readable(folder: Path) -> None:
    """Give the build the permissions the umask allows (``mkdtemp`` makes 0o700 folders)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)
