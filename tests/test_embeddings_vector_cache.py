"""The on-disk vector cache: open formats, keyed by text and model, safe with many writers."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embeddings.errors import EmbeddingModelError
from embeddings.vector_cache import FORMAT_VERSION, KEY_BYTES, VectorCache, text_key


def _unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_keys_depend_on_prompt_and_text() -> None:
    assert len(text_key("query: ", "工业机器人")) == KEY_BYTES
    assert text_key("query: ", "工业机器人") == text_key("query: ", "工业机器人")
    assert text_key("query: ", "工业机器人") != text_key("passage: ", "工业机器人")
    assert text_key("", "a\x00b") != text_key("a", "b")


def test_round_trip_in_open_formats(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path, "model-a", 8)
    keys = [text_key("", t) for t in ("甲", "乙", "丙")]
    vectors = _unit_rows(3, 8, 0)
    cache.put(keys, vectors)
    got, found = cache.get([keys[2], text_key("", "丁"), keys[0]])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(got[[0, 2]], vectors[[2, 0]])
    assert not got[1].any()

    folder = tmp_path / "model-a"
    (index,) = folder.glob("*.json")
    meta = json.loads(index.read_text(encoding="utf-8"))
    assert meta["format_version"] == FORMAT_VERSION and meta["model_id"] == "model-a"
    # Plain .npy files that numpy reads without pickle.
    assert np.load(folder / meta["keys"], allow_pickle=False).shape == (3, KEY_BYTES)
    np.testing.assert_array_equal(np.load(folder / meta["vectors"], allow_pickle=False), vectors)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left

    # A fresh handle (another process, a rerun) sees the same vectors; another model none.
    assert len(VectorCache(tmp_path, "model-a", 8)) == 3
    assert len(VectorCache(tmp_path, "model-b", 8)) == 0


def test_put_skips_known_keys_and_compacts(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path, "m", 4)
    keys = [text_key("", str(i)) for i in range(10)]
    vectors = _unit_rows(10, 4, 1)
    for i in range(10):
        cache.put(keys[: i + 1], vectors[: i + 1])  # each call adds one new key only
    folder = tmp_path / "m"
    assert len(list(folder.glob("*.json"))) == 10
    cache.put(keys, vectors)  # nothing new: no shard written
    assert len(list(folder.glob("*.json"))) == 10
    cache.compact()
    assert len(list(folder.glob("*.json"))) == 1
    got, found = VectorCache(tmp_path, "m", 4).get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vectors)


def test_refuses_foreign_or_broken_shards(tmp_path: Path) -> None:
    VectorCache(tmp_path, "m", 4).put([text_key("", "x")], _unit_rows(1, 4, 2))
    (index,) = (tmp_path / "m").glob("*.json")
    meta = json.loads(index.read_text(encoding="utf-8"))
    meta["format_version"] = 99
    index.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(EmbeddingModelError, match=rf"{index.name}: format: .*delete the folder"):
        VectorCache(tmp_path, "m", 4).get([text_key("", "x")])
    with pytest.raises(ValueError, match="shape"):
        VectorCache(tmp_path / "other", "m", 4).put([text_key("", "x")], np.zeros((1, 5)))


def _writer(args: tuple[str, int]) -> int:
    root, worker = args
    cache = VectorCache(root, "shared-model", 16)
    # Overlapping key ranges: every key is written by two workers, with the same vector.
    ids = list(range(worker * 50, worker * 50 + 100))
    for start in range(0, len(ids), 10):
        chunk = ids[start : start + 10]
        cache.put(
            [text_key("", f"t{i}") for i in chunk],
            np.stack([_unit_rows(1, 16, i)[0] for i in chunk]),
        )
    return len(ids)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(str(tmp_path), w) for w in range(4)])
    cache = VectorCache(tmp_path, "shared-model", 16)
    ids = list(range(0, 3 * 50 + 100))
    got, found = cache.get([text_key("", f"t{i}") for i in ids])
    assert found.all()
    np.testing.assert_array_equal(got, np.stack([_unit_rows(1, 16, i)[0] for i in ids]))
    assert not [p for p in (tmp_path / "shared-model").iterdir() if p.name.endswith(".tmp")]


@given(
    texts=st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=30, unique=True),
    batches=st.integers(min_value=1, max_value=4),
)
def test_property_every_stored_vector_comes_back(
    tmp_path_factory, texts: list[str], batches: int
) -> None:
    root = tmp_path_factory.mktemp("vc")
    cache = VectorCache(root, "p", 3)
    vectors = _unit_rows(len(texts), 3, len(texts))
    keys = [text_key("query: ", t) for t in texts]
    for b in range(batches):
        cache.put(keys[b::batches], vectors[b::batches])
    got, found = VectorCache(root, "p", 3).get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vectors)
