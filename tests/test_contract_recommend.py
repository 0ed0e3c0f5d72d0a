"""Contract: ``recommend`` writes strict JSON (DATA.md §6) — an unknown amount is null.

Python's ``json`` would happily write and read ``NaN``, but it is not JSON: a checker in
any other language (or ``json.loads`` with strict constants) rejects the whole line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.main import main
from profiles.uscc import make_uscc

FIRMS = [
    {"uscc": make_uscc("430111", "MA7T0001"), "name": "长沙测甲科技有限公司",
     "region_code": "430111", "industry_code": "C3491", "rd_expense": 1_234_567,
     "revenue": 30_000_000},
    {"uscc": make_uscc("430103", "MA7T0002"), "name": "长沙测乙商贸有限公司",
     "region_code": "430103", "industry_code": "F5211"},
]
POLICIES = [
    {"id": "fixed", "title": "一次性奖励", "benefits": [{"kind": "grant", "amount": 500000}]},
    {"id": "rate", "title": "研发补助", "benefits": [
        {"kind": "subsidy", "rate": 0.1, "base": "rd_expense", "cap": 1_000_000}]},
    {"id": "none", "title": "无金额", "conditions": {
        "field": "region_code", "op": "in", "value": ["43"], "source": "湖南省"}},
]


def _strict(line: str) -> Any:
    def refuse(const: str) -> None:
        raise ValueError(f"not JSON: {const}")
    return json.loads(line, parse_constant=refuse)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_unknown_amounts_are_null_and_known_ones_numbers(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    code = main(["recommend", "--profiles", str(_write(tmp_path / "f.jsonl", FIRMS)),
                 "--policies", str(_write(tmp_path / "p.jsonl", POLICIES)),
                 "--as-of", "2026-06-30", "--top", "5", "--encoder", "none",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    lines = [_strict(x) for x in out.read_text(encoding="utf-8").splitlines()]
    amounts = {(ln["uscc"], m["policy_id"]): m["amount"] for ln in lines for m in ln["matches"]}
    first, second = FIRMS[0]["uscc"], FIRMS[1]["uscc"]
    assert amounts[(first, "fixed")] == 500000
    assert amounts[(first, "rate")] == 123456.7  # 10% of 1,234,567 yuan, under the cap
    assert amounts[(second, "rate")] is None  # rd_expense unknown
    assert amounts[(first, "none")] is None and amounts[(second, "none")] is None
    assert isinstance(amounts[(first, "fixed")], int)


def test_ties_at_the_cut_keep_catalogue_order() -> None:
    """With equal score and amount, the first policies in the catalogue are the ones kept."""
    import math

    import numpy as np

    from matcher.recommend import rank_keys, top_per_row

    for n, first, k in ((8, 5, 1), (40, 5, 3), (40, 0, 7), (64, 13, 2)):
        score = np.zeros((2, n))
        amounts = np.full((2, n), math.nan)
        mask = np.zeros((2, n), dtype=bool)
        mask[:, first:] = True
        cols, valid = top_per_row(rank_keys(score, amounts), mask, k)
        for row in range(2):
            assert cols[row][valid[row]].tolist() == list(range(first, first + k))
