"""A static (bag-of-token-vectors) encoder distilled from the rebuilt e5 with ``model2vec``.

Why: e5-small embeds about 100 sentences/s on two cores — too slow to embed a million firm
profiles on every run. ``model2vec`` runs each vocabulary token through e5 once, reduces
the vectors with PCA and weights them by token frequency (SIF, estimated from the Unigram
scores); encoding a text is then a tokenizer call and a mean of rows, thousands of texts
per second. The transformer stays available for where its quality pays.

The distillation is offline: the vocabulary is the e5 tokenizer's own (no word list, no
hub). It keeps the pieces written in the scripts this project's texts use — CJK
ideographs and punctuation, Latin (with pinyin tone marks), digits, general punctuation,
enclosed and number forms — and drops the other ~125,000 (Cyrillic, Arabic, Devanagari …),
which halves the build time and the model's size without touching Chinese or English text.

The folder is a sentence-transformers model (``StaticEmbedding`` → ``Normalize``), loaded
with ``SentenceTransformer(path, local_files_only=True)``. It has no prompts: the token
vectors were distilled without ``query: `` / ``passage: ``, and the prompt words would
only add the same two rows to every mean.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from embeddings.atomic_dir import build_once
from embeddings.e5_rebuild import build_e5
from embeddings.e5_rebuild import manifest as e5_manifest
from embeddings.settings import STATIC_DIRNAME, model_dir

BUILDER_VERSION = 1
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4

# Characters a kept piece may consist of (``▁`` is SentencePiece's word-start marker).
_KEPT_CHARS = (
    "\u2581"  # ▁
    "\u0020-\u007e"  # ASCII
    "\u00a0-\u024f"  # Latin-1, Latin Extended-A/B (pinyin tone marks)
    "\u2000-\u206f"  # general punctuation
    "\u2100-\u218f"  # letterlike symbols, number forms (℃, Ⅻ)
    "\u2190-\u22ff"  # arrows, mathematical operators (≥, ≤)
    "\u2460-\u24ff"  # enclosed alphanumerics (①)
    "\u3000-\u303f"  # CJK symbols and punctuation
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff00-\uffef"  # half- and full-width forms
)
#: ``model2vec`` removes every piece this matches (it uses ``re.match``, anchored at the start).
TOKEN_REMOVE_PATTERN = rf".*[^{_KEPT_CHARS}]"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def manifest() -> dict[str, object]:
    """What a current build must match: this builder, its settings, and the e5 it came from."""
    return {
        "builder": "embeddings.static",
        "builder_version": BUILDER_VERSION,
        "pca_dims": PCA_DIMS,
        "sif_coefficient": SIF_COEFFICIENT,
        "token_remove_pattern": TOKEN_REMOVE_PATTERN,
        "teacher": e5_manifest(),
    }


def write_folder(teacher: Path, out: Path, progress: Progress = _quiet) -> None:
    """Distil ``teacher`` (a BERT-style folder) into a sentence-transformers model in ``out``."""
    import torch
    from model2vec.distill import distill_from_model
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(teacher), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(teacher), local_files_only=True)
    progress("distilling the static encoder (one forward pass per kept e5 token)")
    # model2vec logs every removed piece's count at INFO and warns about nothing useful here.
    logging.getLogger("model2vec").setLevel(logging.WARNING)
    with torch.inference_mode():
        static = distill_from_model(
            model=model,
            tokenizer=tokenizer,  # type: ignore[arg-type]  # XLM-R's is a TokenizersBackend
            device="cpu",
            pca_dims=PCA_DIMS,
            sif_coefficient=SIF_COEFFICIENT,
            token_remove_pattern=TOKEN_REMOVE_PATTERN,
            quantize_to="float32",
        )
    del model
    weights = StaticEmbedding._fold_model2vec_weights(
        static.embedding,
        getattr(static, "token_mapping", None),
        getattr(static, "weights", None),
    ).to(torch.float32)
    module = StaticEmbedding(static.tokenizer, embedding_weights=weights, base_model=teacher.name)
    st = SentenceTransformer(
        modules=[module, Normalize()], similarity_fn_name="cosine", device="cpu"
    )
    progress("writing the static encoder")
    st.save(str(out), create_model_card=False)


def build_static(
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress = _quiet,
) -> Path:
    """Build (once) and return the static encoder's folder; builds its e5 teacher if needed."""
    teacher = build_e5(cache_dir, progress=progress)
    target = model_dir(cache_dir) / STATIC_DIRNAME
    if build_once(
        target, manifest(), lambda tmp: write_folder(teacher, tmp, progress), force=force
    ):
        progress(f"static encoder built: {target}")
    return target
