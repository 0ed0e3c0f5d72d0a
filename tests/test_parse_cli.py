"""``policy-match parse`` and ``policy-match eval-parse`` as a batch user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from tests._parse_support import REPO, corpus_dir

CORPUS = corpus_dir()


def test_parse_prints_one_line_per_file_and_goes_on_after_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = CORPUS / "policies" / "hn10_hunan_wengang_fanhuan_mianshenjixiang_2024.txt"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    other = CORPUS / "policies" / "cn01_gaoqi_rending_tiaojian.txt"
    code = main(["parse", str(good), str(empty), str(binary), str(other)])
    out, err = capsys.readouterr()
    assert code == 2
    lines = out.splitlines()
    assert [json.loads(ln)["id"] for ln in lines] == [good.stem, other.stem]
    assert "湖南省" in lines[0]  # ensure_ascii=False: Chinese as is
    assert json.loads(lines[0])["mode"] == "no_application"
    err_lines = [ln for ln in err.splitlines() if ln.strip()]
    assert any(str(empty) in ln and "empty" in ln for ln in err_lines)
    assert any(str(binary) in ln and "binary" in ln for ln in err_lines)
    assert all("Traceback" not in ln for ln in err_lines)


def test_parse_all_good_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "policies.jsonl"
    files = sorted((CORPUS / "policies").glob("*.txt"))
    assert main(["parse", "--out", str(out_file), "--no-text", *map(str, files)]) == 0
    rows = [json.loads(ln) for ln in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f.stem for f in files]
    assert all("text" not in r for r in rows)
    # the engine's own reader accepts the parser's output
    from policies.read import read_policies

    assert len(read_policies(out_file)) == len(files)


def test_eval_parse_reports_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["eval-parse", "--gold", str(CORPUS / "gold.jsonl"), "--json", str(CORPUS / "policies")]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["policies"] == 16
    assert report["leaves"]["f1"] >= 0.90
    assert report["mode_accuracy"] == 1.0


def test_eval_parse_text_output_and_missing_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = CORPUS / "gold.jsonl"
    folder = tmp_path / "texts"
    folder.mkdir()
    keep = "ot03_chongqing_jiulongpo_gaoqi_jiangli"
    (folder / f"{keep}.txt").write_text(
        (CORPUS / "policies" / f"{keep}.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert main(["eval-parse", "--gold", str(gold), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "leaf precision" in out and "F1" in out and "mode accuracy" in out
    assert f"{keep}" in out
    assert "no text for gold policy" in err  # the 15 others are reported, and score zero


def test_real_entry_point_utf8_stdout() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    path = CORPUS / "policies" / "ot03_chongqing_jiulongpo_gaoqi_jiangli.txt"
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "policy-match"), "parse", "--no-text", str(path)],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode == 127:  # pragma: no cover - no installed entry point
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", "parse", "--no-text", str(path)],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
            cwd=REPO,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    policy = json.loads(proc.stdout.decode("utf-8"))
    assert policy["id"] == path.stem and "九龙坡区" in json.dumps(policy, ensure_ascii=False)
    assert proc.stderr.decode().strip() == ""  # jieba's start-up chatter is silenced
