"""``policy-match recommend``: DATA.md §6 JSONL, bad input, determinism, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from matcher.estimator import PolicyMatcher
from policies.read import read_policies
from profiles.read import profiles_frame, read_profiles
from profiles.reference import industry_names, size_standard
from tests._relevance_support import AS_OF, RELEVANCE_DIR

FIRMS = RELEVANCE_DIR / "firms.jsonl"
POLICIES = RELEVANCE_DIR / "policies.jsonl"


def _run(tmp_path: Path, *extra: str, firms: Path = FIRMS, policies: Path = POLICIES,
         out: str = "r.jsonl") -> tuple[int, Path]:
    target = tmp_path / out
    code = main([
        "recommend", "--profiles", str(firms), "--policies", str(policies),
        "--as-of", AS_OF.isoformat(), "--out", str(target), "--no-progress", *extra,
    ])
    return code, target


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_ranked_line_per_firm(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out = _run(tmp_path, "--encoder", "none", "--top", "4")
    assert code == 0
    lines = _lines(out)
    firms = [json.loads(x) for x in FIRMS.read_text(encoding="utf-8").splitlines()]
    assert [x["uscc"] for x in lines] == [f["uscc"] for f in firms]  # input order, all firms
    for line in lines:
        assert list(line) == ["uscc", "matches", "near_misses"]
        assert len(line["matches"]) <= 4
        for m in line["matches"]:
            assert list(m) == ["policy_id", "status", "score", "amount", "why"]
            assert m["status"] in ("eligible", "undetermined")
            assert 0 <= m["score"] <= 1
            assert set(m["why"]) == {"met", "unmet", "unknown", "missing", "preferences",
                                     "terms", "changes"}
        for m in line["near_misses"]:
            assert m["status"] == "ineligible" and m["why"]["changes"]
    assert "湖南" in out.read_text(encoding="utf-8")  # Chinese unescaped
    assert "204 firms × 65 policies" in capsys.readouterr().err


def test_lines_equal_the_estimator(tmp_path: Path) -> None:
    _, out = _run(tmp_path, "--encoder", "none", "--top", "3", "--near-misses", "1")
    frame = profiles_frame(read_profiles(FIRMS).records)
    m = PolicyMatcher(policies=read_policies(POLICIES), as_of=AS_OF,
                      size_standard=size_standard(), industry_names=industry_names(),
                      top_k=3, near_misses=1).fit(frame)
    assert _lines(out) == [json.loads(json.dumps(x, ensure_ascii=False))
                           for x in m.recommend_lines(frame)]


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    _, a = _run(tmp_path, "--encoder", "none", out="a.jsonl")
    _, b = _run(tmp_path, "--encoder", "none", out="b.jsonl")
    assert a.read_bytes() == b.read_bytes()


def test_static_encoder_is_the_default_dense_model(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_MATCH_EMBEDDING_MODEL", raising=False)
    _, dense = _run(tmp_path, "--top", "3", out="dense.jsonl")
    _, bm25 = _run(tmp_path, "--top", "3", "--encoder", "none", out="bm25.jsonl")
    scores_dense = [m["score"] for x in _lines(dense) for m in x["matches"]]
    scores_bm25 = [m["score"] for x in _lines(bm25) for m in x["matches"]]
    assert len(_lines(dense)) == 204 and scores_dense != scores_bm25


def test_int8_queries_change_vectors_not_the_verdicts(tmp_path: Path) -> None:
    few = tmp_path / "few.jsonl"
    few.write_text("".join(FIRMS.read_text(encoding="utf-8").splitlines(keepends=True)[:6]),
                   encoding="utf-8")
    _, full = _run(tmp_path, "--encoder", "e5", "--top", "5", firms=few, out="f32.jsonl")
    _, q8 = _run(tmp_path, "--encoder", "e5", "--query-precision", "int8", "--top", "5",
                 firms=few, out="q8.jsonl")
    a, b = _lines(full), _lines(q8)
    assert [x["uscc"] for x in a] == [x["uscc"] for x in b]
    scores_a = [m["score"] for x in a for m in x["matches"]]
    scores_b = [m["score"] for x in b for m in x["matches"]]
    assert scores_a != scores_b  # the int8 path really ran
    for x, y in zip(a, b, strict=True):  # eligibility does not depend on the encoder
        status_a = {m["policy_id"]: m["status"] for m in x["matches"]}
        status_b = {m["policy_id"]: m["status"] for m in y["matches"]}
        assert all(status_a[p] == status_b[p] for p in status_a.keys() & status_b.keys())
        assert len({m["policy_id"] for m in x["matches"]}
                   & {m["policy_id"] for m in y["matches"]}) >= 3


def test_bad_profile_records_are_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = FIRMS.read_text(encoding="utf-8").splitlines()[:3]
    bad_uscc = json.loads(good[0]) | {"uscc": "91430100MA4L0000XX"}
    firms = tmp_path / "firms.jsonl"
    firms.write_text("\n".join([good[0], "{broken", json.dumps(bad_uscc, ensure_ascii=False),
                                good[1], good[2]]) + "\n", encoding="utf-8")
    code, out = _run(tmp_path, "--encoder", "none", firms=firms)
    assert code == 0
    err = capsys.readouterr().err
    assert "firms.jsonl:2" in err and "broken JSON" in err
    assert "firms.jsonl:3" in err and "uscc" in err
    assert "2 record(s) skipped" in err
    assert [x["uscc"] for x in _lines(out)] == [json.loads(g)["uscc"] for g in good]


def test_bad_policy_file_is_refused_without_output(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lines = POLICIES.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[1])
    broken["conditions"] = {"all": [{"field": "turnover", "op": ">=", "value": 1}]}
    policies = tmp_path / "policies.jsonl"
    policies.write_text("\n".join([lines[0], json.dumps(broken, ensure_ascii=False)]) + "\n",
                        encoding="utf-8")
    existing = tmp_path / "r.jsonl"
    existing.write_text("previous result\n", encoding="utf-8")
    code, out = _run(tmp_path, "--encoder", "none", policies=policies)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "policies.jsonl:2" in err[0] and "turnover" in err[0]
    assert out.read_text(encoding="utf-8") == "previous result\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policies.jsonl", "r.jsonl"]


@pytest.mark.parametrize(("flag", "value"), [("--top", "0"), ("--near-misses", "-1")])
def test_bad_arguments_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   flag: str, value: str) -> None:
    code, out = _run(tmp_path, "--encoder", "none", flag, value)
    assert code == 2 and not out.exists()
    assert flag in capsys.readouterr().err
