# ruff: noqa: F811  (pytest fixtures imported from the support module)
"""The store suite, run on both backends (SQLite file and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from matcher.eligibility import eligibility_table, evaluate
from matcher.errors import PolicyMatchError, RecordError
from matcher.policy import Policy
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from profiles.uscc import make_uscc
from store.firm_source import iter_profile_records
from store.schema import api_keys, firms, imports
from store.store import Conflict, NotFound, Store
from store.url import DEFAULT_DATABASE_URL, database_url
from tests._store_support import postgres_url, store, store_url  # noqa: F401

GOLD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gold.jsonl"
AS_OF = dt.date(2026, 6, 30)


def firm(i: int, **fields: object) -> dict[str, object]:
    raw = {"uscc": make_uscc("430111", f"{i:08d}"), "name": f"长沙测试{i}号有限公司",
           "region_code": "430111", "industry_code": "C3491", "employees": 20,
           "revenue": 3_000_000 + i, "established_on": "2019-05-04", **fields}
    return normalize_profile(raw, f"t:{i}")


def gold_policies() -> list[Policy]:
    return [Policy.from_json(json.loads(line)) for line in GOLD.read_text("utf-8").splitlines()
            if line.strip()]


def test_database_url_default_and_driver() -> None:
    assert database_url(environ={}) == DEFAULT_DATABASE_URL
    assert database_url(environ={"POLICY_MATCH_DATABASE_URL": "postgresql://u@h/db"}) == (
        "postgresql+psycopg://u@h/db")
    env = {"POLICY_MATCH_DATABASE_URL": "postgresql://a/b"}
    assert database_url("sqlite:///x.db", environ=env) == "sqlite:///x.db"


def test_put_and_read_firm_keeps_unknown_absent(store: Store) -> None:
    rec = firm(1, qualifications=[{"name": "高企", "valid_until": "2027-12-31"}], listed=False,
               tags=["绿色"])
    stored, created = store.put_firm(rec, actor="t")
    assert created
    got = store.firm(rec["uscc"])  # type: ignore[arg-type]
    assert got is not None and got.record == rec
    assert "total_assets" not in got.record  # unknown stays unknown, never 0
    assert got.record["listed"] is False and got.record["employees"] == 20
    assert got.record["qualifications"] == [{"name": "高新技术企业", "valid_until": "2027-12-31"}]
    assert got.as_of.tzinfo is not None and got.imported_at == stored.imported_at
    again, created = store.put_firm(firm(1, employees=25), actor="t")
    assert not created and again.record["employees"] == 25 and "tags" not in again.record
    assert again.revision > stored.revision
    actions = [(a.action, a.target) for a in store.audit(target=f"firm:{rec['uscc']}")]
    target = f"firm:{rec['uscc']}"
    assert actions == [("firm.update", target), ("firm.create", target)]


def test_bulk_import_in_chunks_and_frame_matches_reader(store: Store) -> None:
    records = [firm(i, qualifications=[] if i % 3 else None) for i in range(2500)]
    items: list = [(f"f:{i}", r) for i, r in enumerate(records)]
    items.insert(10, RecordError("f:bad", "uscc", "broken"))
    items.append(("f:dup", records[5]))
    chunks: list[int] = []
    report = store.import_firms(items, source="f.jsonl", actor="t", chunk_size=1000,
                                on_chunk=chunks.append)
    assert report.state == "done" and report.written == 2500 and chunks == [1000, 1000, 500]
    assert [(e.where, e.field) for e in report.errors] == [("f:bad", "uscc"), ("f:dup", "uscc")]
    frame, revision = store.firms_frame()
    expected = profiles_frame(sorted(records, key=lambda r: str(r["uscc"])))
    pd.testing.assert_frame_equal(frame, expected)
    assert revision == store.revision("firms_revision") == 3
    with store.transaction(write=False) as conn:
        row = conn.execute(
            sa.select(imports).where(imports.c.id == report.import_id)).mappings().one()
    assert (row["state"], row["n_records"], row["n_errors"]) == ("done", 2500, 2)
    changed, _ = store.firms_frame(since_revision=2)
    assert len(changed) == 500


def test_failed_chunk_rolls_back_and_keeps_earlier_data(store: Store) -> None:
    before = firm(2999, employees=7)
    store.put_firm(before, actor="t")
    records = [firm(i) for i in range(3000)]
    records[2999] = {**firm(2999, employees=99)}
    records[2500] = {**records[2500], "name": None}  # NOT NULL: the third chunk fails
    with pytest.raises(PolicyMatchError, match="failed after 2000 firms"):
        store.import_firms(((str(i), r) for i, r in enumerate(records)), source="x",
                           actor="t", chunk_size=1000)
    assert store.count_firms() == 2001  # two whole chunks plus the firm stored before
    assert store.firm(records[2000]["uscc"]) is None  # type: ignore[arg-type]
    kept = store.firm(before["uscc"])  # type: ignore[arg-type]
    assert kept is not None and kept.record["employees"] == 7
    with store.transaction(write=False) as conn:
        state = conn.execute(sa.select(imports.c.state).order_by(imports.c.id.desc())).scalar()
    assert state == "failed"


def test_import_from_jsonl_file_reports_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.jsonl"
    lines = [json.dumps(firm(i), ensure_ascii=False) for i in range(3)]
    lines.insert(1, '{"uscc": "914301111234567880", "name": "坏"}')
    lines.append("{oops")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    warnings: list[RecordError] = []
    report = store.import_firms(iter_profile_records(path, warnings), source=path.name, actor="t")
    assert report.written == 3
    assert [(e.where, e.field) for e in report.errors] == [("firms.jsonl:2", "uscc"),
                                                           ("firms.jsonl:5", None)]


def test_policy_review_workflow_and_revisions(store: Store) -> None:
    gold = gold_policies()
    p = gold[0]
    row = store.put_policy(p, actor="officer")
    assert (row.state, row.version) == ("draft", 1)
    assert row.policy.to_json() == p.to_json()
    published_rev = store.revision("published_revision")
    with pytest.raises(Conflict):
        store.withdraw(p.id, actor="o")
    row = store.publish(p.id, actor="o")
    assert row.state == "published" and row.published_at is not None
    assert store.revision("published_revision") == published_rev + 1
    with pytest.raises(Conflict):
        store.publish(p.id, actor="o")
    same = store.put_policy(p, actor="o")
    assert same.version == 1  # unchanged document: no new version
    retitled = Policy.from_json({**p.to_json(), "title": "新标题"})
    row = store.put_policy(retitled, actor="o")
    assert row.version == 2 and row.content_hash == same.content_hash
    assert store.revision("published_revision") == published_rev + 1  # title does not decide
    stricter = Policy.from_json({**p.to_json(), "valid_until": "2030-12-31"})
    row = store.put_policy(stricter, actor="o")
    assert row.content_hash != same.content_hash
    assert store.revision("published_revision") == published_rev + 2
    store.withdraw(p.id, actor="o")
    with pytest.raises(Conflict):
        store.put_policy(p, actor="o")
    assert store.put_policy(p, actor="o", publish=True).state == "published"
    actions = [a.action for a in store.audit(target=f"policy:{p.id}")]
    assert actions[::-1] == ["policy.create", "policy.publish", "policy.update", "policy.update",
                             "policy.withdraw", "policy.update", "policy.publish"]
    with pytest.raises(NotFound):
        store.publish("nope", actor="o")


def test_import_policies_filters_and_published_set(store: Store) -> None:
    gold = gold_policies()
    counts = store.import_policies(gold, actor="cli", source="gold.jsonl", publish=True)
    assert counts == {"created": len(gold), "updated": 0, "unchanged": 0, "published": len(gold)}
    published, _ = store.published_policies()
    assert [p.id for p in published] == sorted(p.id for p in gold)
    by_id = sorted(gold, key=lambda q: q.id)
    assert [p.to_json() for p in published] == [p.to_json() for p in by_id]
    no_app = store.policies(mode="no_application")
    assert {r.id for r in no_app} == {p.id for p in gold if p.mode == "no_application"}
    day = dt.date(2023, 1, 1)
    valid = {r.id for r in store.policies(valid_on=day)}
    assert valid == {p.id for p in gold if p.valid_on(day)}
    store.withdraw(gold[0].id, actor="o")
    assert gold[0].id not in {p.id for p in store.published_policies()[0]}
    assert store.count_policies() == {"published": len(gold) - 1, "withdrawn": 1}


def test_keys_are_hashed_at_rest(store: Store) -> None:
    uscc = make_uscc("430111", "00000001")
    key, token = store.create_key("firm", uscc=uscc, label="企业A", actor="cli")
    secret = token.split("_", 2)[2]
    with store.transaction(write=False) as conn:
        row = conn.execute(sa.select(api_keys)).mappings().one()
    assert secret not in json.dumps(dict(row), default=str)
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert store.verify_key(token) == key
    assert store.verify_key(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.verify_key("pm_nothere_xyz") is None and store.verify_key("garbage") is None
    store.revoke_key(key.id, actor="cli")
    assert store.verify_key(token) is None
    with pytest.raises(PolicyMatchError, match="USCC"):
        store.create_key("firm", actor="cli")
    with pytest.raises(PolicyMatchError, match="unknown role"):
        store.create_key("root", actor="cli")


def test_runs_and_match_results_round_trip(store: Store) -> None:
    gold = gold_policies()
    records = [firm(i, qualifications=[{"name": "高新技术企业"}]) for i in range(30)]
    ev = evaluate(profiles_frame(records), gold, AS_OF, size_standard())  # type: ignore[arg-type]
    table = eligibility_table(ev)
    run = store.create_run(kind="eligibility", as_of=AS_OF, params={"note": "测试"}, actor="t")
    assert run.state == "running"
    assert store.write_results(run.id, table, chunk_size=100) == len(table)
    back = store.results(run.id, limit=10**6)
    expected = table.sort_values(["policy_id", "uscc"]).reset_index(drop=True)
    assert list(back["uscc"]) == list(expected["uscc"])
    assert list(back["status"]) == list(expected["status"])
    assert list(back["unmet"]) == list(expected["unmet"])
    amounts = [None if a == "" else float(a) for a in expected["amount"]]
    assert [None if pd.isna(a) else a for a in back["amount"]] == amounts
    elig = store.results(run.id, statuses=["eligible"], limit=10**6)
    assert set(elig["status"]) <= {"eligible"} and len(elig) == (table.status == "eligible").sum()
    done = store.finish_run(run.id, state="done", counts={"rows": len(table)}, actor="t")
    assert done.state == "done" and done.finished_at is not None and done.params == {"note": "测试"}
    assert [r.id for r in store.runs()] == [run.id]


def test_listeners_run_inside_the_transaction(store: Store) -> None:
    seen: list[tuple[str, list[str]]] = []
    store.listen("policies.published", lambda conn, ids: seen.append(("published", ids)))
    store.listen("firms.changed", lambda conn, ids: seen.append(("firms", ids)))
    p = gold_policies()[0]
    store.put_policy(p, actor="o", publish=True)
    rec = firm(3)
    store.put_firm(rec, actor="o")
    assert seen == [("published", [p.id]), ("firms", [rec["uscc"]])]

    def refuse(conn: sa.Connection, ids: list[str]) -> None:
        raise RuntimeError("outbox full")

    store.listen("firms.changed", refuse)
    with pytest.raises(RuntimeError):
        store.put_firm(firm(4), actor="o")
    assert store.firm(firm(4)["uscc"]) is None  # type: ignore[arg-type]


def test_bulk_path_uses_copy_on_postgresql(store: Store) -> None:
    records = [firm(i, business_scope="软件开发；技术服务", tags=["甲", "乙"])
               for i in range(20_000)]
    report = store.import_firms(((str(i), r) for i, r in enumerate(records)), source="big",
                                actor="t", chunk_size=5_000)
    assert report.written == 20_000 and store.count_firms() == 20_000
    got = store.firm(records[12_345]["uscc"])  # type: ignore[arg-type]
    assert got is not None and got.record == records[12_345]
    with store.transaction(write=False) as conn:
        revisions = conn.execute(sa.select(sa.func.count(sa.distinct(firms.c.revision)))).scalar()
    assert revisions == 4  # one revision per chunk transaction


def test_latest_done_run_prefers_the_asked_date(store: Store) -> None:  # noqa: F811
    """A run for the asked date first, then the latest of any date; never a failed one."""
    day = dt.date(2026, 6, 30)
    ids = {}
    for name, as_of, state in (("ours", day, "done"), ("later", day.replace(day=1), "done"),
                               ("failed", day, "failed")):
        run = store.create_run(kind="recommend", as_of=as_of, actor="t")
        store.finish_run(run.id, state=state, actor="t")
        ids[name] = run.id
    assert store.latest_done_run_id("recommend") == ids["later"]
    assert store.latest_done_run_id("recommend", day) == ids["ours"]
    assert store.latest_done_run_id("recommend", dt.date(2027, 1, 1)) == ids["later"]
    assert store.latest_done_run_id("eligibility", day) is None
