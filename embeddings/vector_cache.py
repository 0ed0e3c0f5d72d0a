"""Vectors already computed, on disk, keyed by text hash and model: encode each text once.

Why: a million firm profiles through e5 take hours; a rerun, or an update that changes a
few thousand profiles, should only encode what changed. A vector depends on the model,
the prompt put before the text, and the text, so the key is a 128-bit BLAKE2b hash of
prompt and text, inside a folder per model id.

Format (open, no pickle): a folder per model holds *shards*; each shard is

* ``<name>.vectors.npy`` — float32, shape ``(n, dim)``, L2-normalised rows;
* ``<name>.keys.npy`` — uint8, shape ``(n, 16)``, the keys of those rows;
* ``<name>.json`` — the index entry: format name and version, model id, dim, row count and
  the two file names. It is written last, so a shard without it does not exist yet.

Every file is written under a temporary name and renamed into place, and each writer
creates shards of its own (names carry time, pid and a random part), so concurrent writers
never overwrite each other and a reader never sees half a shard. :meth:`VectorCache.compact`
merges shards into one when they pile up.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.errors import EmbeddingModelError

FORMAT = "policy-match-vector-cache"
FORMAT_VERSION = 1
KEY_BYTES = 16
#: Shards beyond this count are merged by :meth:`VectorCache.put` (reading stays cheap).
MAX_SHARDS = 64


def text_key(prompt: str, text: str) -> bytes:
    """The 16-byte key of ``text`` encoded after ``prompt`` (``\\x00`` cannot occur in either)."""
    return hashlib.blake2b(f"{prompt}\x00{text}".encode(), digest_size=KEY_BYTES).digest()


@dataclass
class _Shard:
    name: str
    keys: np.ndarray
    vectors: np.ndarray


def _safe_name(model_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in model_id)


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_save_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class VectorCache:
    """Vectors of one model, stored under ``directory / model_id``.

    Parameters
    ----------
    directory
        The cache root; created on first write.
    model_id
        Identifies the model (and its version) that made the vectors; see
        :func:`embeddings.resolve.model_id`. Vectors of other models are never mixed in.
    dim
        Vector length; shards of another length are refused as corrupt.
    """

    def __init__(self, directory: str | os.PathLike[str], model_id: str, dim: int) -> None:
        self.root = Path(directory).expanduser() / _safe_name(model_id)
        self.model_id = model_id
        self.dim = int(dim)
        self._shards: dict[str, _Shard] = {}
        self._index: dict[bytes, tuple[str, int]] = {}

    # -- reading ----------------------------------------------------------------------
    def _shard_names(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(
            n[: -len(".json")] for n in names if n.endswith(".json") and not n.startswith(".")
        )

    def _load_shard(self, name: str) -> _Shard | None:
        try:
            with open(self.root / f"{name}.json", encoding="utf-8") as f:
                meta = json.load(f)
        except FileNotFoundError:
            return None  # merged away by a concurrent compaction
        except ValueError as e:
            raise EmbeddingModelError(
                str(self.root / f"{name}.json"), "index", f"not JSON: {e}"
            ) from e
        where = str(self.root / f"{name}.json")
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise EmbeddingModelError(
                where,
                "format",
                f"expected {FORMAT} v{FORMAT_VERSION}, found {meta.get('format')} "
                f"v{meta.get('format_version')}; delete the folder to rebuild the cache",
            )
        if meta.get("model_id") != self.model_id or meta.get("dim") != self.dim:
            raise EmbeddingModelError(where, "model_id", "shard belongs to another model or size")
        try:
            keys = np.load(self.root / meta["keys"], allow_pickle=False)
            vectors = np.load(self.root / meta["vectors"], mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return None  # merged away by a concurrent compaction
        n = meta.get("count")
        if (
            keys.shape != (n, KEY_BYTES)
            or vectors.shape != (n, self.dim)
            or vectors.dtype != np.float32
        ):
            raise EmbeddingModelError(
                where, "shape", f"keys {keys.shape}, vectors {vectors.shape}, count {n}"
            )
        return _Shard(name, keys, vectors)

    def refresh(self) -> None:
        """Pick up shards written since the last look (by this or another process)."""
        names = self._shard_names()
        live = set(names)
        if any(name not in live for name in self._shards):  # a compaction replaced shards
            self._shards.clear()
            self._index.clear()
        for name in names:
            if name in self._shards:
                continue
            shard = self._load_shard(name)
            if shard is None:
                continue
            self._shards[name] = shard
            for row, key in enumerate(shard.keys):
                self._index.setdefault(key.tobytes(), (name, row))

    def __len__(self) -> int:
        self.refresh()
        return len(self._index)

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for ``keys``: ``(vectors, found)``; rows not found are zero."""
        self.refresh()
        return self._gather(keys)

    def _gather(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        by_shard: dict[str, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is not None:
                positions, rows = by_shard.setdefault(hit[0], ([], []))
                positions.append(i)
                rows.append(hit[1])
        for name, (positions, rows) in by_shard.items():
            out[positions] = self._shards[name].vectors[rows]
            found[positions] = True
        return out, found

    # -- writing ----------------------------------------------------------------------
    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        _atomic_save_npy(self.root / f"{name}.keys.npy", keys)
        _atomic_save_npy(self.root / f"{name}.vectors.npy", vectors)
        _atomic_save_json(
            self.root / f"{name}.json",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "model_id": self.model_id,
                "dim": self.dim,
                "dtype": "float32",
                "count": int(len(keys)),
                "keys": f"{name}.keys.npy",
                "vectors": f"{name}.vectors.npy",
            },
        )
        return name

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors`` (one row per key) as a new shard; keys already stored are skipped."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(keys)}, {self.dim}), got {vectors.shape}"
            )
        self.refresh()
        new: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if len(key) != KEY_BYTES:
                raise ValueError(f"keys must be {KEY_BYTES} bytes (text_key), got {len(key)}")
            if key not in self._index and key not in new:
                new[key] = i
        if not new:
            return
        key_array = np.frombuffer(b"".join(new), dtype=np.uint8).reshape(len(new), KEY_BYTES)
        self._write_shard(key_array.copy(), vectors[list(new.values())])
        self.refresh()
        if len(self._shards) > MAX_SHARDS:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one (written first, then the old ones removed)."""
        self.refresh()
        if len(self._shards) <= 1:
            return
        names = list(self._shards)
        all_keys = list(self._index)
        vectors, _ = self._gather(all_keys)  # exactly the shards in ``names``
        keys = np.frombuffer(b"".join(all_keys), dtype=np.uint8).reshape(len(all_keys), KEY_BYTES)
        self._write_shard(keys.copy(), vectors)
        for name in names:
            for suffix in (".json", ".keys.npy", ".vectors.npy"):  # index entry first
                try:
                    os.remove(self.root / f"{name}{suffix}")
                except FileNotFoundError:
                    pass
        self._shards.clear()
        self._index.clear()
        self.refresh()
