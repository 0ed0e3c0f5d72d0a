"""Confirmation workflow (generated → confirmed → published → objections → final) and diffs."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from cli.main import main
from runs.checkpoint import RUNS_DIRNAME
from runs.diff import diff_runs
from runs.workflow import Workflow, WorkflowError
from tests._run_support import firm_records, policy_objects, write_jsonl

AS_OF = "2025-06-30"


def _run(profiles: Path, policies: Path, out: Path, as_of: str = AS_OF) -> Path:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["run", "--profiles", str(profiles), "--policies", str(policies),
                     "--as-of", as_of, "--out", str(out), "--no-progress"]) == 0
    return out / RUNS_DIRNAME / buf.getvalue().strip().splitlines()[-1]


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture()
def finished(tmp_path: Path) -> Path:
    profiles = write_jsonl(tmp_path / "f.jsonl", firm_records(200, seed=9))
    policies = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    return _run(profiles, policies, tmp_path / "out")


def test_full_workflow_with_objections(finished: Path) -> None:
    wf = Workflow(finished)
    assert wf.state() == "generated"  # the run itself records generation
    listed = _csv(finished / "eligible.csv")
    with pytest.raises(WorkflowError, match="needs confirmed"):
        wf.publish("王科长", dt.date(2025, 7, 1), dt.date(2025, 7, 7))
    wf.confirm("王科长", "已核对")
    wf.publish("王科长", dt.date(2025, 7, 1), dt.date(2025, 7, 7))
    gone, amended = listed.iloc[0], listed.iloc[1]
    pol = "gaoqi"
    missing = next(u for u in _csv(finished / "eligible.csv")["uscc"]
                   if not ((listed["uscc"] == u) & (listed["policy_id"] == pol)).any())
    with pytest.raises(WorkflowError, match="during 公示"):
        wf.object("群众", gone.uscc, gone.policy_id, "该企业已注销", dt.date(2025, 7, 9))
    wf.object("群众", gone.uscc, gone.policy_id, "该企业已注销", dt.date(2025, 7, 2))
    wf.object("企业", amended.uscc, amended.policy_id, "金额计算有误", dt.date(2025, 7, 3))
    wf.object("企业", missing, pol, "我司为高新技术企业，应列入", dt.date(2025, 7, 3))
    wf.object("企业", listed.iloc[2].uscc, listed.iloc[2].policy_id, "无理由", dt.date(2025, 7, 4))
    with pytest.raises(WorkflowError, match="after it"):
        wf.finalize("王科长", dt.date(2025, 7, 7))
    with pytest.raises(WorkflowError, match="unresolved objections: OBJ-0001"):
        wf.finalize("王科长", dt.date(2025, 7, 8))
    wf.resolve("王科长", "OBJ-0001", "upheld", "remove", note="经核实已注销")
    wf.resolve("王科长", "OBJ-0002", "upheld", "amend", 12345, note="按核定金额")
    wf.resolve("王科长", "OBJ-0003", "upheld", "add", 200000, note="补录高企证书")
    wf.resolve("王科长", "OBJ-0004", "rejected", note="不成立")
    with pytest.raises(WorkflowError, match="already resolved"):
        wf.resolve("王科长", "OBJ-0004", "upheld", "remove", note="x")
    entry = wf.finalize("王科长", dt.date(2025, 7, 8))
    assert wf.state() == "final"
    final = _csv(finished / "final.csv")
    keys = list(zip(final["policy_id"], final["uscc"], strict=True))
    assert keys == sorted(keys)
    assert len(final) == len(listed)  # one removed, one added
    assert (gone.policy_id, gone.uscc) not in keys and (pol, missing) in keys
    row = final[(final["policy_id"] == amended.policy_id) & (final["uscc"] == amended.uscc)]
    assert list(row["amount"]) == ["12345"]
    assert {c["effect"] for c in entry["detail"]["changes"]} == {"remove", "amend", "add"}
    # the generated list is untouched, every step is logged in a verified chain
    assert _csv(finished / "eligible.csv").equals(listed)
    actions = [e["action"] for e in wf.entries()]
    assert actions == ["generate", "confirm", "publish", "object", "object", "object", "object",
                       "resolve", "resolve", "resolve", "resolve", "finalize"]
    with pytest.raises(WorkflowError):
        wf.confirm("王科长")


def test_tampering_is_detected(finished: Path) -> None:
    wf = Workflow(finished)
    wf.confirm("王科长")
    lines = (finished / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "someone else"
    (finished / "audit.jsonl").write_text("\n".join([lines[0], json.dumps(entry)]) + "\n",
                                          encoding="utf-8")
    with pytest.raises(Exception, match="audit log altered"):
        wf.state()
    # an edited list is refused at the next step
    wf2_dir = finished
    (wf2_dir / "audit.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (finished / "eligible.csv").unlink()
    (finished / "eligible.csv").write_text("uscc,policy_id\n", encoding="utf-8")
    with pytest.raises(Exception, match="differs from the one the run produced"):
        Workflow(finished).publish("王科长", dt.date(2025, 7, 1), dt.date(2025, 7, 7))


def test_workflow_through_the_cli(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = finished.parent.parent
    assert main(["runs", "confirm", str(out), "--by", "王科长"]) == 0
    assert main(["runs", "publish", finished.name, "--out", str(out), "--by", "王科长",
                 "--start", "2025-07-01", "--end", "2025-07-07"]) == 0
    assert main(["runs", "finalize", str(finished), "--by", "王科长", "--on", "2025-07-01"]) == 2
    assert "finalised after" in capsys.readouterr().err
    assert main(["runs", "finalize", str(finished), "--by", "王科长", "--on", "2025-07-08"]) == 0
    assert (finished / "final.csv").read_bytes() == (finished / "eligible.csv").read_bytes()
    capsys.readouterr()
    assert main(["runs", "status", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "done"


def test_diff_names_the_data_change_and_the_policy_change(tmp_path: Path) -> None:
    records = firm_records(150, seed=4)
    policies = policy_objects()
    a_profiles = write_jsonl(tmp_path / "a.jsonl", records)
    a_pol = write_jsonl(tmp_path / "pa.jsonl", policies)
    # B: one firm's layoff rate rises above 5.5 %, and xiaowei's age bound tightens to 3
    changed = next(r for r in records if r["uscc"] in set(
        _csv(_run(a_profiles, a_pol, tmp_path / "A") / "eligible.csv")
        .query("policy_id == 'wengang'")["uscc"]))
    b_records = [dict(r, layoff_rate=0.09) if r is changed else r for r in records]
    b_profiles = write_jsonl(tmp_path / "b.jsonl", b_records)
    b_policies = json.loads(json.dumps(policies))
    for p in b_policies:
        if p["id"] == "xiaowei":
            p["conditions"]["all"][1] = {"field": "age_years", "op": "<", "value": 3,
                                         "source": "成立不满3年"}
    b_pol = write_jsonl(tmp_path / "pb.jsonl", b_policies)
    _run(b_profiles, b_pol, tmp_path / "B")
    d = diff_runs(tmp_path / "A", tmp_path / "B")
    row = d[(d["policy_id"] == "wengang") & (d["uscc"] == changed["uscc"])]
    assert list(row["change"]) == ["left"]
    reason = row["reason"].iloc[0]
    assert "数据变更：layoff_rate" in reason and "→ 0.09" in reason
    assert "裁员率不高于5.5%" in reason  # the condition it now fails
    xw = d[d["policy_id"] == "xiaowei"]
    assert len(xw) > 0 and set(xw["change"]) == {"left"}
    assert all("政策条件变更" in r and "成立不满3年" in r for r in xw["reason"])
    untouched = d[~d["policy_id"].isin(["wengang", "xiaowei", "wengang_cs"])]
    assert untouched.empty
    # and through the CLI, with every change in a CSV
    assert main(["runs", "diff", str(tmp_path / "A"), str(tmp_path / "B"), "--out-csv",
                 str(tmp_path / "d.csv")]) == 0
    assert len(_csv(tmp_path / "d.csv")) == len(d)
