"""``policy-match models build``: builds into a cache folder, deterministically, once."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from cli.main import main
from embeddings.settings import E5_DIRNAME, STATIC_DIRNAME, model_dir
from tests._embeddings_support import built_e5, built_static


@pytest.fixture(scope="module")
def e5_dir() -> Path:
    return built_e5()


@pytest.fixture(scope="module")
def static_dir() -> Path:
    return built_static()


def test_build_writes_e5_once_and_identically(
    tmp_path: Path,
    e5_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "models"
    assert (
        main(["models", "build", "--only", "e5", "--cache-dir", str(cache), "--threads", "1"]) == 0
    )
    out, err = capsys.readouterr()
    built = cache / E5_DIRNAME
    assert out.splitlines() == [str(built)]
    assert "rebuilding multilingual-e5-small" in err and "built:" in err
    # Deterministic: the same bytes as the build every other test uses.
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        assert filecmp.cmp(built / name, e5_dir / name, shallow=False), name
    inode = built.stat().st_ino

    assert main(["models", "build", "--only", "e5", "--cache-dir", str(cache)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(built)] and err == ""  # idempotent and quiet
    assert built.stat().st_ino == inode
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == [E5_DIRNAME]
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_build_of_both_is_a_no_op_when_current(
    e5_dir: Path,
    static_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "build", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(model_dir() / E5_DIRNAME), str(model_dir() / STATIC_DIRNAME)]
    assert err == ""


def test_bad_thread_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "build", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "expected a whole number of threads ≥ 1, got '0'" in capsys.readouterr().err
