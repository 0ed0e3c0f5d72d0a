"""CLI verbs over the store: ``import profiles|policies``, ``keys create|list|revoke``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from store.store import Store
from tests._api_support import GOLD, firm_record


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("POLICY_MATCH_DATABASE_URL", url)
    return url


def test_import_and_keys(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    firms = tmp_path / "firms.jsonl"
    lines = [json.dumps(firm_record(i), ensure_ascii=False) for i in range(5)]
    lines.insert(3, '{"uscc": "bad", "name": "x"}')
    firms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["import", "profiles", str(firms), "--no-progress", "--chunk-size", "2"]) == 0
    err = capsys.readouterr().err
    assert "skipped firms.jsonl:4: field 'uscc'" in err and "5 firms stored" in err
    assert main(["import", "policies", str(GOLD), "--publish"]) == 0
    assert "16 published" in capsys.readouterr().err
    assert main(["keys", "create", "--role", "firm", "--uscc", str(firm_record(1)["uscc"])]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with Store(db) as store:
        assert store.count_firms() == 5
        assert len(store.published_policies()[0]) == 16
        key = store.verify_key(token)
        assert key is not None and key.role == "firm" and key.uscc == firm_record(1)["uscc"]
    assert main(["keys", "list"]) == 0
    assert key.id in capsys.readouterr().out
    assert main(["keys", "revoke", key.id]) == 0
    with Store(db) as store:
        assert store.verify_key(token) is None


def test_bad_inputs_exit_2_without_traceback(db: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "firm"]) == 2
    assert main(["keys", "create", "--role", "firm", "--uscc", "123"]) == 2
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "a", "conditions": {"field": "revenue", "op": "has", "value": 1}}\n')
    assert main(["import", "policies", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "p.jsonl:1" in err and "Traceback" not in err
    with Store(db) as store:
        assert store.count_policies() == {}
