"""The command-line entry point: one verb loaded at a time, broken verbs isolated."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli import main as cli_main


def test_every_verb_module_registers_the_verb_its_file_name_promises() -> None:
    # Loading one verb relies on the file-name convention; a mismatch would make that
    # verb unreachable, so check it for all of them.
    for verb, module_name in cli_main.verb_modules().items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="verb")
        cli_main._register(sub, verb, module_name)
        assert list(sub.choices) == [verb], module_name


def test_running_a_verb_imports_only_that_verb() -> None:
    code = (
        "import sys; from cli.main import build_parser; "
        "build_parser(['parse', 'x.txt']); "
        "print(sorted(m for m in sys.modules if m.startswith('cli.verbs.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['cli.verbs.parse']"


def test_a_verb_that_cannot_load_is_reported_and_the_others_still_work(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="policy-match")
    sub = parser.add_subparsers(dest="verb", required=True)
    cli_main._register(sub, "broken", "no_such_verb_module")
    cli_main._register(sub, "parse", "parse")
    args = parser.parse_args(["broken", "--anything", "goes"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "'broken' command cannot load" in err and "ModuleNotFoundError" in err
    assert parser.parse_args(["parse", "a.txt"]).files == ["a.txt"]


def test_help_lists_every_verb() -> None:
    out = subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for verb in cli_main.verb_modules():
        assert verb in out


def test_result_files_are_readable_by_others_and_never_nan(tmp_path: Path) -> None:
    from cli.output import write_csv, write_jsonl

    old = os.umask(0o022)
    try:
        write_csv(pd.DataFrame({"a": ["中文"]}), tmp_path / "r.csv")
        write_jsonl([{"a": "中文"}], tmp_path / "r.jsonl")
    finally:
        os.umask(old)
    for name in ("r.csv", "r.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert (tmp_path / "r.jsonl").read_text(encoding="utf-8") == '{"a": "中文"}\n'
    with pytest.raises(ValueError):
        write_jsonl([{"amount": float("nan")}], tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
