"""``policy-match eligibility`` end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiles.uscc import make_uscc

FIRMS = [
    {"uscc": make_uscc("430111", "MA000011"), "name": "长沙智造机器人有限公司",
     "region_code": "430111", "industry_code": "C3491", "established_on": "2019-03-01",
     "employees": 120, "revenue": 45_000_000, "rd_expense": 2_000_000,
     "rd_expense_prev": 1_500_000, "serious_dishonesty": False,
     "qualifications": [{"name": "高新技术企业"}]},
    {"uscc": make_uscc("430211", "MA000012"), "name": "株洲小微商贸有限公司",
     "region_code": "430211", "industry_code": "F5211", "employees": 8, "revenue": 800_000},
    {"uscc": make_uscc("430102", "MA000013"), "name": "长沙软件有限公司",
     "region_code": "430102", "industry_code": "I6513"},
]
POLICIES = [
    {"id": "rd", "title": "研发奖补", "conditions": {"all": [
        {"field": "region_code", "op": "in", "value": ["4301"], "source": "在长沙市注册"},
        {"field": "above_scale", "op": "==", "value": True, "source": "规模以上工业企业"},
        {"field": "rd_ratio", "op": ">=", "value": 0.03, "source": "研发投入占比3%以上"}]},
     "benefits": [{"kind": "subsidy", "rate": 0.1, "base": "rd_increase", "cap": 1_000_000,
                   "source": "按新增研发投入的10%给予补助，最高100万元"}]},
    {"id": "small", "title": "小微普惠", "mode": "no_application", "conditions": {"all": [
        {"field": "size_class", "op": "in", "value": ["micro", "small"], "source": "小微企业"},
        {"not": {"field": "serious_dishonesty", "op": "==", "value": True,
                 "source": "列入严重失信主体名单的除外"}}]},
     "benefits": [{"kind": "grant", "amount": 50_000, "source": "一次性奖励5万元"}]},
]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    firms = tmp_path / "firms.jsonl"
    lines = [json.dumps(f, ensure_ascii=False) for f in FIRMS]
    lines.insert(1, '{"uscc": "broken')
    lines.append(json.dumps({"uscc": make_uscc("430111", "MA000014"), "name": "坏",
                             "revenue": "abc"}, ensure_ascii=False))
    firms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    policies = tmp_path / "policies.jsonl"
    policies.write_text(
        "\n".join(json.dumps(p, ensure_ascii=False) for p in POLICIES) + "\n", encoding="utf-8"
    )
    return firms, policies


def test_eligibility_writes_the_contract_csv(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    firms, policies = inputs
    out = tmp_path / "r.csv"
    res = run("eligibility", "--profiles", str(firms), "--policies", str(policies),
              "--as-of", "2026-11-25", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "firms.jsonl:2" in res.stderr and "firms.jsonl:5: field 'revenue'" in res.stderr
    assert "2 record(s) skipped" in res.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert list(rows[0]) == ["uscc", "policy_id", "status", "amount", "unmet", "unknown", "score"]
    keys = [(r["uscc"], r["policy_id"]) for r in rows]
    assert keys == sorted(keys) and len(rows) == 6
    by = {(r["uscc"], r["policy_id"]): r for r in rows}
    robot, shop, soft = (f["uscc"] for f in FIRMS)
    assert by[(robot, "rd")]["status"] == "eligible"
    assert by[(robot, "rd")]["amount"] == "50000"  # 10% of the 500,000 increase
    assert by[(robot, "small")]["status"] == "eligible"  # 120 staff, 4500万: small 工业
    assert by[(shop, "rd")]["unmet"] == "在长沙市注册 | 规模以上工业企业"
    assert by[(shop, "rd")]["amount"] == ""
    assert by[(shop, "small")]["status"] == "undetermined"
    assert by[(shop, "small")]["unknown"] == "serious_dishonesty"
    assert by[(soft, "rd")]["status"] == "undetermined"
    # derived attributes are reported as the missing profile fields behind them
    assert by[(soft, "rd")]["unknown"] == "revenue | rd_expense"
    # Rerun: byte-identical.
    out2 = tmp_path / "r2.csv"
    run("eligibility", "--profiles", str(firms), "--policies", str(policies),
        "--as-of", "2026-11-25", "--out", str(out2), cwd=tmp_path)
    assert out2.read_bytes() == raw


def test_invalid_policy_tree_refuses_with_one_line(inputs: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    firms, _ = inputs
    bad = tmp_path / "bad.jsonl"
    tree = {"all": [{"field": "revenue", "op": ">=", "value": 1},
                    {"field": "revenue", "op": "~", "value": 1},
                    {"field": "turnover", "op": ">=", "value": 1}]}
    bad.write_text(json.dumps({"id": "p9", "conditions": tree}) + "\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    res = run("eligibility", "--profiles", str(firms), "--policies", str(bad),
              "--as-of", "2026-11-25", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "bad.jsonl:1" in res.stderr and "p9" in res.stderr
    assert "conditions.all[1].op" in res.stderr
    assert not out.exists()


def test_unreadable_profiles_refuse(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    _, policies = inputs
    res = run("eligibility", "--profiles", str(tmp_path / "nope.jsonl"), "--policies",
              str(policies), "--as-of", "2026-11-25", "--out", str(tmp_path / "r.csv"),
              cwd=tmp_path)
    assert res.returncode == 2
    assert "nope.jsonl" in res.stderr and "Traceback" not in res.stderr


def test_bad_date_argument_is_a_usage_error(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    firms, policies = inputs
    res = run("eligibility", "--profiles", str(firms), "--policies", str(policies),
              "--as-of", "26/11/2026", "--out", str(tmp_path / "r.csv"), cwd=tmp_path)
    assert res.returncode == 2 and "YYYY-MM-DD" in res.stderr
