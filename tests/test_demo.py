"""The README's first command: the demo on the bundled samples prints real matches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_prints_matches_and_writes_the_table(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--out", str(tmp_path / "out"), "--firms", "3"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.count("■ ") == 3
    assert "可享受" in out and "最高约 ¥" in out
    assert "差一点" in out and "未满足：" in out
    table = (tmp_path / "out" / "eligibility.csv").read_text(encoding="utf-8-sig").splitlines()
    assert table[0] == "uscc,policy_id,status,amount,unmet,unknown,score"
    assert len(table) > 1000
