"""The whole tree passes the linter (ruff, notebook included) and the type checker (mypy
over the product's packages), both configured in pyproject.toml.

Why a test: `.ci/run` runs the test command only; without this, style drift (long lines,
unsorted imports, ``zip`` without ``strict``) and type errors (a ``None`` handed where a
date was due, a list where a dict was promised) accumulated unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                          "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_finds_nothing() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
