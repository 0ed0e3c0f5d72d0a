"""An API over a real store with real keys, for the API tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import Settings, create_app
from matcher.policy import Policy
from profiles.read import normalize_profile
from profiles.uscc import make_uscc
from store.store import Store

GOLD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gold.jsonl"
AS_OF = "2026-06-30"


def gold_policies() -> list[Policy]:
    return [Policy.from_json(json.loads(line)) for line in GOLD.read_text("utf-8").splitlines()
            if line.strip()]


def firm_record(i: int, region: str = "430111", **fields: object) -> dict[str, object]:
    raw = {"uscc": make_uscc(region, f"{i:08d}"), "name": f"测试企业{i}号", "region_code": region,
           "industry_code": "C3491", "employees": 20 + i, "revenue": 30_000_000 + 1000 * i,
           "total_assets": 20_000_000, "established_on": "2015-03-01",
           "rd_expense": 1_500_000, "qualifications": [{"name": "高新技术企业"}], **fields}
    return normalize_profile(raw, f"t:{i}")


@dataclass
class World:
    client: TestClient
    store: Store
    tokens: dict[str, str]  # role -> token; "firm" is bound to firm_a
    firm_a: str
    firm_b: str
    policies: list[Policy]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_world(url: str, **settings: object) -> Iterator[World]:
    # Seed through a plain store (no listeners of other packages, which would react to
    # the seeding), then serve it.
    with Store(url) as seed:
        a, b = firm_record(1), firm_record(2, region="430104")
        for rec in (a, b, *[firm_record(i) for i in range(3, 12)]):
            seed.put_firm(rec, actor="setup")
        policies = gold_policies()
        seed.import_policies(policies, actor="setup", source="gold", publish=True)
        tokens = {role: seed.create_key(role, actor="setup")[1]
                  for role in ("admin", "officer", "analyst")}
        tokens["firm"] = seed.create_key("firm", uscc=str(a["uscc"]), actor="setup")[1]
    app = create_app(Settings(**{"database_url": url, "key_cache_seconds": 0,  # type: ignore[arg-type]
                                 "refresh_seconds": 0, **settings}))
    store: Store = app.state.store
    with TestClient(app) as client:
        yield World(client, store, tokens, str(a["uscc"]), str(b["uscc"]), policies)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'api.db'}")
