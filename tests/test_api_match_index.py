"""The API's warm matcher gives exactly the batch eligibility table (DATA.md §5).

Oracle: ``matcher.eligibility.eligibility_table`` over the same stored firms, policies
and date. Checked for each way the index answers: verdicts kept in memory with
explanation tables filled in the background, verdicts without tables, the kernel per
request (no matrix), and firms changed after the build (the overlay).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.match_index import MatchIndex, _Benefits
from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies
from matcher.benefits import policy_amounts
from matcher.eligibility import eligibility_table, evaluate
from matcher.encode import NUMERIC_FIELDS
from matcher.policy import Benefit, Policy
from profiles.reference import size_standard
from store.store import Store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[Policy]]]:
    path: Path = tmp_path_factory.mktemp("index") / "index.db"
    store = Store(f"sqlite:///{path}")
    records = firm_records(synthetic_firms(1500, seed=11))
    store.import_firms(((str(i), r) for i, r in enumerate(records)), source="syn", actor="t")
    policies = synthetic_policies(120, seed=12)
    store.import_policies(policies, actor="t", source="syn", publish=True)
    yield store, policies
    store.close()


def _oracle(store: Store, policies: list[Policy]) -> pd.DataFrame:
    frame, _ = store.firms_frame()
    table = eligibility_table(evaluate(frame, policies, AS_OF, size_standard()))
    return table.set_index(["uscc", "policy_id"])


def _check_firms(index: MatchIndex, oracle: pd.DataFrame, usccs: list[str]) -> int:
    checked = 0
    for uscc in usccs:
        page = index.firm_page(uscc, AS_OF, limit=5000)
        assert page is not None
        assert page.total == sum(page.counts.values())
        for item in page.items:
            row = oracle.loc[(uscc, item["policy_id"])]
            assert item["status"] == row["status"], (uscc, item)
            assert " | ".join(item["unmet"]) == row["unmet"], (uscc, item)
            assert " | ".join(item["unknown"]) == row["unknown"], (uscc, item)
            expected = None if row["amount"] == "" else float(row["amount"])
            assert item["amount"] == (None if expected is None else pytest.approx(expected)), (
                uscc, item, row["amount"])
            checked += 1
    return checked


def _wait_for_tables(index: MatchIndex, n: int) -> None:
    unit = index.snapshot(AS_OF).base
    deadline = time.monotonic() + 120
    while len(unit.patterns) < n and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["tables", "no-tables", "kernel-per-request"])
def test_firm_pages_equal_the_batch_table(world: tuple[Store, list[Policy]], mode: str) -> None:
    store, policies = world
    index = MatchIndex(store, size_standard(), background=mode == "tables",
                       matrix_limit=0 if mode == "kernel-per-request" else 10**9)
    index.prepare(AS_OF)
    if mode == "tables":
        _wait_for_tables(index, sum(p.conditions is not None for p in policies))
        assert index.snapshot(AS_OF).base.patterns
    frame, _ = store.firms_frame()
    usccs = list(frame["uscc"][::15])
    assert _check_firms(index, _oracle(store, policies), usccs) == len(usccs) * len(policies)


def test_order_filter_and_paging(world: tuple[Store, list[Policy]]) -> None:
    store, _ = world
    index = MatchIndex(store, size_standard(), background=False)
    uscc = str(store.firms_frame()[0]["uscc"][7])
    full = index.firm_page(uscc, AS_OF, limit=5000)
    assert full is not None
    rank = {"eligible": 0, "undetermined": 1, "ineligible": 2}
    keys = [(rank[i["status"]], -(i["amount"] or -1.0), i["policy_id"]) for i in full.items]
    assert keys == sorted(keys)
    part = index.firm_page(uscc, AS_OF, statuses=["undetermined", "ineligible"], limit=7,
                           offset=3)
    assert part is not None
    wanted = [i for i in full.items if i["status"] != "eligible"]
    assert part.items == wanted[3:10] and part.total == len(wanted)
    assert index.firm_page("91430111MA4L000000", AS_OF) is None


def test_policy_pages_and_overlay(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'o.db'}")
    records = firm_records(synthetic_firms(600, seed=21))
    store.import_firms(((str(i), r) for i, r in enumerate(records)), source="syn", actor="t")
    policies = synthetic_policies(40, seed=22)
    store.import_policies(policies, actor="t", source="syn", publish=True)
    index = MatchIndex(store, size_standard(), check_interval=0, background=False)
    index.prepare(AS_OF)
    # Change some firms after the build: they are answered from the overlay.
    for rec in records[:25]:
        changed = {k: v for k, v in rec.items() if k not in ("revenue", "qualifications")}
        store.put_firm(changed, actor="t")
    index.touch()
    oracle = _oracle(store, policies)
    assert index.snapshot(AS_OF).overlay is not None
    assert _check_firms(index, oracle, [str(r["uscc"]) for r in records[:25:3]]) > 0
    for policy in policies[:10]:
        page = index.policy_page(policy, AS_OF, limit=5000)
        rows = oracle.xs(policy.id, level="policy_id")
        assert page.total == len(rows) == len(records)
        assert [i["uscc"] for i in page.items] == sorted(rows.index)
        for item in page.items:
            row = rows.loc[item["uscc"]]
            assert (item["status"], " | ".join(item["unmet"]), " | ".join(item["unknown"])) == (
                row["status"], row["unmet"], row["unknown"])
    store.close()


_benefit = st.one_of(
    st.builds(Benefit, kind=st.just("grant"), amount=st.floats(0, 1e7)),
    st.builds(Benefit, kind=st.just("subsidy"), rate=st.floats(0, 1),
              base=st.sampled_from(NUMERIC_FIELDS),
              cap=st.none() | st.floats(0, 1e7)),
    st.builds(Benefit, kind=st.just("tax"), rate=st.floats(0, 1)),  # no base: not computable
)


@settings(max_examples=80, deadline=None)
@given(benefits=st.lists(st.lists(_benefit, max_size=3), min_size=1, max_size=8),
       column=st.lists(st.none() | st.floats(0, 1e9), min_size=len(NUMERIC_FIELDS),
                       max_size=len(NUMERIC_FIELDS)))
def test_one_firm_amounts_equal_policy_amounts(benefits: list[list[Benefit]],
                                               column: list[float | None]) -> None:
    """The per-request amounts (flat arrays, in place) follow matcher.benefits exactly:
    the best benefit, NaN for an unknown base, NaN without a computable benefit."""
    policies = [Policy(id=f"p{i}", benefits=tuple(b)) for i, b in enumerate(benefits)]
    numeric = np.array([np.nan if v is None else v for v in column])
    got = _Benefits.build(policies).amounts(numeric)
    expected = [policy_amounts(p.benefits, numeric[:, None])[0] for p in policies]
    np.testing.assert_array_equal(got, expected)
