"""Dense (embedding) relevance: any encoder with ``encode_queries``/``encode_documents``.

The matcher never loads a model: it receives an encoder object (``embeddings.encoder.
TextEmbedder`` in production, anything with the same two methods in tests), which keeps
``matcher`` free of I/O and lets a deployment swap e5 for the fast static model, or for
another local model, without touching ranking code. Firms are queries and policies are
documents, matching the asymmetric ``query: `` / ``passage: `` prompts of e5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEncoder(Protocol):
    """What the matcher needs from an embedding model: L2-normalised float rows."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def check_encoder(encoder: Any) -> None:
    """Refuse an object that lacks the two encode methods, naming what is missing."""
    missing = [m for m in ("encode_queries", "encode_documents") if not callable(
        getattr(encoder, m, None))]
    if missing:
        raise TypeError(
            f"encoder {type(encoder).__name__} lacks {', '.join(missing)}; pass an object "
            "with encode_queries(texts) and encode_documents(texts) returning 2-D arrays"
        )


def as_unit_rows(vectors: Any, n: int, what: str) -> np.ndarray:
    """Validate an encoder's output and L2-normalise it (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] != n:
        raise ValueError(f"encoder returned shape {v.shape} for {n} {what}; expected ({n}, dim)")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"encoder returned non-finite values for {what}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def cosine_scores(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Cosine similarity (n_queries, n_documents) of unit rows."""
    if queries.shape[1] != documents.shape[1]:
        raise ValueError(
            f"query vectors have {queries.shape[1]} dimensions, documents {documents.shape[1]}"
        )
    if queries.shape[0] <= 16:
        # A few queries (one firm on request): numpy's own loop on the calling thread
        # (≈ 0.2 ms for 2,000 × 256). OpenBLAS, even for a matrix-vector product of this
        # size, hands work to its worker thread, and on a busy two-core machine waiting
        # for it took 5 ms per firm in the latency benchmark.
        return np.einsum("qd,nd->qn", queries, documents)
    return queries @ documents.T


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class MemoizedEncoder:
    """Wrap an encoder so each distinct text is encoded once per process.

    Grid searches refit a matcher many times on the same texts; with e5 at about a
    hundred sentences a second on two cores, re-encoding would dominate. The cache is
    in memory only (persisting vectors is the embedding package's job), and cloning
    returns the same object (``__sklearn_clone__``) so every clone in a
    ``GridSearchCV`` shares it.
    """

    def __init__(self, encoder: Any) -> None:
        check_encoder(encoder)
        self.encoder = encoder
        self._cache: dict[tuple[str, bytes], np.ndarray] = {}

    def __sklearn_clone__(self) -> MemoizedEncoder:
        return self

    def _encode(self, kind: str, texts: Sequence[str]) -> np.ndarray:
        keys = [(kind, _key(t)) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            batch = [first[k] for k in todo]
            fn = self.encoder.encode_queries if kind == "q" else self.encoder.encode_documents
            vecs = as_unit_rows(fn(batch), len(batch), "texts")
            for k, v in zip(todo, vecs, strict=True):
                self._cache[k] = v
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode("q", list(texts))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode("d", list(texts))

    def __repr__(self) -> str:
        return f"MemoizedEncoder({self.encoder!r})"
