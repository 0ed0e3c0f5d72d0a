"""The whole tree passes the linter configured in pyproject.toml (ruff), notebook included.

Why a test: `.ci/run` runs the test command only; without this, style drift (long lines,
unsorted imports, ``zip`` without ``strict``) accumulated unnoticed in older files.
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
