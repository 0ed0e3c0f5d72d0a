"""Where models live and which one a deployment chose: read from the environment, on call.

* ``POLICY_MATCH_MODEL_DIR`` — the cache folder the built models go into (default
  ``~/.cache/policy-match/models``). Built once, reused by every later run.
* ``POLICY_MATCH_EMBEDDING_MODEL`` — a deployment's choice of dense model: ``e5``,
  ``static`` or the path of any local sentence-transformers folder. Callers such as the
  CLI pass :func:`configured_model` as ``TextEmbedder(model=...)``; the estimator itself
  never reads the environment for its parameters (scikit-learn's contract: what you set is
  what runs).
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_DIR_ENV = "POLICY_MATCH_MODEL_DIR"
EMBEDDING_MODEL_ENV = "POLICY_MATCH_EMBEDDING_MODEL"

#: Folder names, inside the cache folder, of the two models this project builds.
E5_DIRNAME = "multilingual-e5-small"
STATIC_DIRNAME = "multilingual-e5-small-static"


def model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$POLICY_MATCH_MODEL_DIR``, else the default."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/policy-match/models").expanduser()


def configured_model(default: str = "e5") -> str:
    """The deployment's dense model (``$POLICY_MATCH_EMBEDDING_MODEL``), else ``default``."""
    return os.environ.get(EMBEDDING_MODEL_ENV) or default
