"""`policy-match run` in file mode: the list, its order, its files, its manifest, reruns."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from cli.main import main
from tests._run_support import firm_records, policy_objects, write_jsonl, write_parquet

AS_OF = "2025-06-30"
FILES = ("eligible.csv", "eligible.xlsx", "eligible.parquet", "adjustments.csv", "skipped.csv")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    records = firm_records(600, seed=3)
    plain = [p for p in policy_objects()]
    for p in plain:  # a copy without stacking fields, to compare with the core's own table
        p.pop("exclusive_with", None), p.pop("per_firm_cap", None), p.pop("cap_group", None)
    return {
        "parquet": write_parquet(d / "firms.parquet", records),
        "jsonl": write_jsonl(d / "firms.jsonl", records),
        "policies": write_jsonl(d / "policies.jsonl", policy_objects()),
        "plain": write_jsonl(d / "plain.jsonl", plain),
    }


def run_cli(*args: str | Path) -> str:
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    assert code == 0
    lines = out.getvalue().strip().splitlines()
    return lines[-1] if lines else ""


def test_list_equals_the_core_eligibility_table(inputs: dict[str, Path], tmp_path: Path) -> None:
    """Without stacking fields the run's list is exactly the core's eligible/undetermined rows."""
    run_cli("run", "--profiles", inputs["parquet"], "--policies", inputs["plain"],
            "--as-of", AS_OF, "--out", tmp_path / "run", "--chunk-size", "97", "--no-progress")
    run_cli("eligibility", "--profiles", inputs["jsonl"], "--policies", inputs["plain"],
            "--as-of", AS_OF, "--out", tmp_path / "all.csv", "--no-progress")
    core = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False,
                       encoding="utf-8-sig")
    core = core[core["status"].isin(["eligible", "undetermined"])]
    core = core.sort_values(["policy_id", "uscc"]).reset_index(drop=True)
    mine = pd.read_csv(tmp_path / "run" / "eligible.csv", dtype=str, keep_default_na=False,
                       encoding="utf-8-sig")
    assert list(mine.columns) == ["uscc", "policy_id", "status", "amount", "unmet", "unknown",
                                  "score"]
    assert len(mine) > 100 and set(mine["status"]) == {"eligible", "undetermined"}
    pd.testing.assert_frame_equal(mine, core)


def test_outputs_and_manifest(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_id = run_cli("run", "--profiles", inputs["parquet"], "--policies", inputs["policies"],
                     "--as-of", AS_OF, "--out", out, "--mode", "no_application",
                     "--no-progress")
    raw = (out / "eligible.csv").read_bytes()
    assert raw.startswith("\ufeff".encode()) and "稳岗".encode() not in raw[:3]
    csv = pd.read_csv(out / "eligible.csv", dtype=str, keep_default_na=False,
                      encoding="utf-8-sig")
    keys = list(zip(csv["policy_id"], csv["uscc"], strict=True))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert "shenbao" not in set(csv["policy_id"])  # --mode no_application
    # Parquet holds the same rows, typed
    pqt = pq.read_table(out / "eligible.parquet").to_pandas()
    assert list(pqt["uscc"]) == list(csv["uscc"])
    amounts = pd.to_numeric(csv["amount"].replace("", None))
    assert (pqt["amount"].fillna(-1).to_numpy() == amounts.fillna(-1).to_numpy()).all()
    # Excel: one sheet per selected policy, Chinese headers, the same rows per policy
    wb = load_workbook(out / "eligible.xlsx", read_only=True)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    ids = [p["id"] for p in manifest["policies"]]
    assert ids == sorted(["wengang", "wengang_cs", "gaoqi", "yanfa", "xiaowei"])
    assert wb.sheetnames == ["汇总", *ids]
    # The summary sheet comes first: per policy, the counts and the amount total.
    summary = list(wb["汇总"].iter_rows(values_only=True))
    assert summary[0] == ("政策编号", "政策名称", "符合条件（家）", "待核实（家）",
                          "预计金额合计（元）")
    assert [r[0] for r in summary[1:]] == ids
    for pid, _, eligible, undetermined, total in summary[1:]:
        mine = csv[csv["policy_id"] == pid]
        assert eligible == int((mine["status"] == "eligible").sum())
        assert undetermined == int((mine["status"] == "undetermined").sum())
        want = pd.to_numeric(mine["amount"].replace("", None)).fillna(0).sum()
        assert total == pytest.approx(float(want))
    for pid in ids:
        rows = list(wb[pid].iter_rows(values_only=True))
        assert rows[0][:5] == ("统一社会信用代码", "企业名称", "政策编号", "核定状态",
                               "预计金额（元）")
        mine = csv[csv["policy_id"] == pid]
        assert [r[0] for r in rows[1:]] == list(mine["uscc"])
        assert {r[3] for r in rows[1:]} <= {"符合条件", "待核实"}
    # Manifest: identity, inputs, hashes, counts that match the files
    assert manifest["run_id"] == run_id and manifest["as_of"] == AS_OF
    assert manifest["input"]["format"] == "parquet" and len(manifest["input"]["sha256"]) == 64
    for p in manifest["policies"]:
        assert len(p["sha256"]) == 64 and len(p["conditions_sha256"]) == 64
    assert manifest["counts"]["rows"] == len(csv)
    assert manifest["counts"]["eligible"] == int((csv["status"] == "eligible").sum())
    for pid, c in manifest["counts_per_policy"].items():
        assert c["rows"] == int((csv["policy_id"] == pid).sum())
    eligible_amount = pd.to_numeric(csv.loc[csv["status"] == "eligible", "amount"]
                                    .replace("", None)).sum()
    assert manifest["total_amount"] == pytest.approx(eligible_amount)
    assert manifest["code_version"]["source_sha256"]
    assert set(manifest["varying_fields"]) == {"run_id", "started_at", "finished_at",
                                               "elapsed_seconds"}
    for name in FILES:
        assert manifest["outputs"][name]["bytes"] == (out / name).stat().st_size
    st = json.loads((out / ".runs" / run_id / "state.json").read_text())
    assert st["state"] == "done"


def test_rerun_is_byte_identical_and_chunking_does_not_matter(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    outs = []
    for i, chunk in enumerate(("1000", "1000", "53")):
        out = tmp_path / f"r{i}"
        run_cli("run", "--profiles", inputs["parquet"], "--policies", inputs["policies"],
                "--as-of", AS_OF, "--out", out, "--chunk-size", chunk, "--no-progress")
        outs.append(out)
    for name in FILES:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
        assert (outs[0] / name).read_bytes() == (outs[2] / name).read_bytes(), name
    m = [json.loads((o / "manifest.json").read_text()) for o in outs[:2]]
    varying = set(m[0]["varying_fields"])
    assert {k: v for k, v in m[0].items() if k not in varying} == \
        {k: v for k, v in m[1].items() if k not in varying}
    assert m[0]["run_id"] != m[1]["run_id"]
    # byte-identical manifests once the declared varying lines are taken out
    def stable(o: Path) -> list[str]:
        return [line for line in (o / "manifest.json").read_text().splitlines()
                if not any(f'"{k}"' in line for k in varying)]
    assert stable(outs[0]) == stable(outs[1])


def test_jsonl_input_gives_the_same_list_as_parquet(inputs: dict[str, Path],
                                                   tmp_path: Path) -> None:
    for fmt in ("parquet", "jsonl"):
        run_cli("run", "--profiles", inputs[fmt], "--policies", inputs["policies"], "--as-of",
                AS_OF, "--out", tmp_path / fmt, "--chunk-size", "128", "--no-progress")
    for name in ("eligible.csv", "eligible.parquet", "eligible.xlsx", "adjustments.csv"):
        expected = (tmp_path / "parquet" / name).read_bytes()
        assert (tmp_path / "jsonl" / name).read_bytes() == expected, name


def test_bad_records_are_reported_and_the_batch_goes_on(tmp_path: Path) -> None:
    records = firm_records(40, seed=5)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    bad_uscc = dict(records[3], uscc="91430102MA4L0000X0")
    lines[3] = json.dumps(bad_uscc, ensure_ascii=False)
    lines[7] = "{broken"
    lines.append(json.dumps(records[10], ensure_ascii=False))  # a duplicate firm
    (tmp_path / "f.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pol = write_jsonl(tmp_path / "p.jsonl", policy_objects())
    run_cli("run", "--profiles", tmp_path / "f.jsonl", "--policies", pol, "--as-of", AS_OF,
            "--out", tmp_path / "o", "--chunk-size", "16", "--no-progress")
    skipped = pd.read_csv(tmp_path / "o" / "skipped.csv", dtype=str, keep_default_na=False,
                          encoding="utf-8-sig")
    assert len(skipped) == 3
    text = "\n".join(skipped["where"] + " " + skipped["field"] + " " + skipped["message"])
    assert "f.jsonl:4 uscc" in text and "f.jsonl:8" in text and "broken JSON" in text
    assert "duplicate" in text and records[10]["uscc"] in text
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["firms"] == {"records": 41, "evaluated": 38, "skipped": 3, "warnings": 0}
    csv = pd.read_csv(tmp_path / "o" / "eligible.csv", dtype=str, keep_default_na=False,
                      encoding="utf-8-sig")
    assert records[3]["uscc"] not in set(csv["uscc"])
    keys = list(zip(csv["policy_id"], csv["uscc"], strict=True))
    assert len(keys) == len(set(keys))  # the duplicate firm is listed once


def test_refusals_are_one_line_errors(inputs: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--profiles", str(inputs["parquet"]), "--policies",
                 str(inputs["policies"]), "--as-of", AS_OF, "--out", str(tmp_path / "o"),
                 "--mode", "instant"])
    assert code == 2
    assert "no policies with mode 'instant'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "eligible.csv").exists()
    bad = policy_objects()
    bad[0]["per_firm_cap"] = "lots"
    write_jsonl(tmp_path / "bad.jsonl", bad)
    code = main(["run", "--profiles", str(inputs["parquet"]), "--policies",
                 str(tmp_path / "bad.jsonl"), "--as-of", AS_OF, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "wengang" in err and "per_firm_cap" in err
