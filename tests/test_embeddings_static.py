"""The distilled static encoder: a sentence-transformers model that agrees with its teacher."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from embeddings.static import PCA_DIMS, TOKEN_REMOVE_PATTERN
from tests._embeddings_support import built_e5, built_static

# Sector words a firm's business scope or a policy's 支持方向 would use.
WORDS = [
    "工业机器人",
    "智能制造",
    "数控机床",
    "餐饮服务",
    "酒店住宿",
    "食品零售",
    "软件开发",
    "信息技术服务",
    "集成电路设计",
    "农产品种植",
    "畜禽养殖",
    "农业合作社",
    "新能源汽车",
    "锂电池",
    "光伏发电",
    "生物医药",
    "医疗器械",
    "中药材",
    "建筑施工",
    "房地产开发",
    "物流运输",
    "跨境电商",
    "纺织服装",
    "文化旅游",
]
# (anchor, related, unrelated): the anchor must be closer to the related one.
TRIPLES = [
    ("工业机器人", "智能制造", "餐饮服务"),
    ("软件开发", "信息技术服务", "畜禽养殖"),
    ("新能源汽车", "锂电池", "酒店住宿"),
    ("农产品种植", "农业合作社", "集成电路设计"),
    ("生物医药", "医疗器械", "建筑施工"),
]


@pytest.fixture(scope="module")
def e5_dir() -> Path:
    return built_e5()


@pytest.fixture(scope="module")
def static_dir() -> Path:
    return built_static()


@pytest.fixture(scope="module")
def static_model(static_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(static_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def e5_model(e5_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(e5_dir), device="cpu", local_files_only=True)


def test_loads_as_a_static_embedding_model(
    static_model: SentenceTransformer, static_dir: Path
) -> None:
    modules = json.loads((static_dir / "modules.json").read_text(encoding="utf-8"))
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["StaticEmbedding", "Normalize"]
    vectors = static_model.encode(WORDS, convert_to_numpy=True)
    assert vectors.shape == (len(WORDS), PCA_DIMS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert len({v.tobytes() for v in vectors}) == len(WORDS)


def test_vocabulary_is_the_e5_tokenizers_own(
    static_model: SentenceTransformer, e5_dir: Path
) -> None:
    """Chinese and Latin text splits into exactly the pieces e5 uses; other scripts were dropped."""
    e5_tok = AutoTokenizer.from_pretrained(str(e5_dir), local_files_only=True)
    static_tok = static_model[0].tokenizer
    for text in [
        "湖南智能装备有限公司：工业机器人、数控机床的研发与销售",
        "Software R&D 软件开发 2024年",
    ]:
        e5_pieces = e5_tok.convert_ids_to_tokens(
            e5_tok(text, add_special_tokens=False)["input_ids"]
        )
        assert static_tok.encode(text, add_special_tokens=False).tokens == e5_pieces
    vocab = static_tok.get_vocab()
    assert "▁工业" in vocab or "工业" in vocab
    assert not any(
        re.match(TOKEN_REMOVE_PATTERN, piece) for piece in vocab if not piece.startswith("<")
    )
    assert 100_000 < len(vocab) < 250_002


def test_related_sectors_are_closer_for_both_models(
    static_model: SentenceTransformer, e5_model: SentenceTransformer
) -> None:
    for name, vectors in (
        ("static", static_model.encode(WORDS)),
        ("e5", e5_model.encode_query(WORDS)),
    ):
        index = {w: v for w, v in zip(WORDS, vectors, strict=True)}
        for anchor, related, unrelated in TRIPLES:
            near = float(index[anchor] @ index[related])
            far = float(index[anchor] @ index[unrelated])
            assert near > far, (name, anchor, related, near, unrelated, far)


def test_static_similarities_follow_e5(
    static_model: SentenceTransformer, e5_model: SentenceTransformer
) -> None:
    s = static_model.encode(WORDS)
    e = e5_model.encode_query(WORDS)
    upper = np.triu_indices(len(WORDS), k=1)
    rho = spearmanr((s @ s.T)[upper], (e @ e.T)[upper]).statistic
    assert rho > 0.5, rho
