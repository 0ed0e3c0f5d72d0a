"""From a model choice (``e5``, ``static`` or a folder) to a local folder and a stable model id.

The model id names the vectors a model makes (the vector cache is keyed by it), so it must
change whenever the model's files change and stay put otherwise. For the two built models
it is derived from their build manifest; for any other folder, from its file names, sizes,
small configuration files and the first and last 64 KiB of each large file — cheap to
compute on every ``fit``, and it changes when weights are replaced.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from embeddings.atomic_dir import MANIFEST
from embeddings.errors import EmbeddingModelError

BUILTIN = ("e5", "static")
_SAMPLE = 64 * 1024


def _digest_folder(folder: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as f:
            if size <= 4 * _SAMPLE or path.suffix == ".json":
                h.update(f.read())
            else:
                h.update(f.read(_SAMPLE))
                f.seek(size - _SAMPLE)
                h.update(f.read(_SAMPLE))
    return h.hexdigest()


def model_id(folder: str | os.PathLike[str]) -> str:
    """``<folder name>-<16 hex digits>``: the same files give the same id on every machine."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if manifest.is_file():  # our own builds: the manifest says exactly what was built
        digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    else:
        digest = _digest_folder(folder)
    return f"{folder.name}-{digest[:16]}"


def check_folder(folder: Path) -> None:
    """Refuse anything that is not a local sentence-transformers (or transformers) folder."""
    if not folder.is_dir():
        raise EmbeddingModelError(
            str(folder),
            "model",
            "no such folder; give 'e5', 'static' or the path of a local "
            "sentence-transformers model (nothing is downloaded)",
        )
    if not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
        raise EmbeddingModelError(
            str(folder),
            "model",
            "not a sentence-transformers folder (no modules.json or config.json)",
        )


def resolve(
    model: str, cache_dir: str | os.PathLike[str] | None, progress: Callable[[str], None]
) -> Path:
    """The local folder for ``model``, building the built-in ones on first use."""
    if model == "e5":
        from embeddings.e5_rebuild import build_e5

        return build_e5(cache_dir, progress=progress)
    if model == "static":
        from embeddings.static import build_static

        return build_static(cache_dir, progress=progress)
    folder = Path(model).expanduser()
    check_folder(folder)
    return folder
