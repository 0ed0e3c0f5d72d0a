"""``GET /policies/{id}/matches`` pages (``MatchIndex.policy_page``) equal the batch table.

Oracle: ``matcher.eligibility.eligibility_table`` over every stored firm for the policy,
sorted by USCC and sliced — for several filters and offsets, for a published policy
(answered from the snapshot's verdicts), a draft (compiled on its own and cached), with
verdicts not kept (``matrix_limit=0``), and after firms changed (the overlay merged in by
USCC). Real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from api.match_index import MatchIndex
from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies
from matcher.eligibility import eligibility_table, evaluate
from matcher.policy import Policy
from profiles.reference import size_standard
from store.store import Store
from tests._store_support import postgres_url, store_url  # noqa: F401

FILTERS: list[tuple[tuple[str, ...], int, int]] = [
    ((), 5000, 0), ((), 37, 0), ((), 50, 123), ((), 100, 390),  # the last runs off the end
    (("eligible",), 20, 0), (("undetermined", "ineligible"), 25, 40),
    (("eligible", "undetermined"), 10, 7), (("ineligible",), 60, 200),
]


def _oracle(store: Store, policy: Policy) -> pd.DataFrame:
    frame, _ = store.firms_frame()
    table = eligibility_table(evaluate(frame, [policy], AS_OF, size_standard()))
    return table.set_index("uscc").sort_index()


def _check(index: MatchIndex, policy: Policy, oracle: pd.DataFrame) -> None:
    counts = oracle["status"].value_counts().to_dict()
    for statuses, limit, offset in FILTERS:
        page = index.policy_page(policy, AS_OF, statuses=statuses, limit=limit, offset=offset)
        rows = oracle[oracle["status"].isin(statuses)] if statuses else oracle
        assert page.total == len(rows), (policy.id, statuses)
        assert page.counts == {s: counts.get(s, 0)
                               for s in ("eligible", "undetermined", "ineligible")}
        want = rows.iloc[offset:offset + limit]
        assert [i["uscc"] for i in page.items] == list(want.index), (policy.id, statuses, offset)
        for item in page.items:
            row = want.loc[item["uscc"]]
            assert (item["status"], " | ".join(item["unmet"]), " | ".join(item["unknown"])) == (
                row["status"], row["unmet"], row["unknown"]), item
            expected = None if row["amount"] == "" else round(float(row["amount"]), 2)
            assert item["amount"] == pytest.approx(expected), item


@pytest.mark.parametrize("matrix_limit", [200_000_000, 0])
def test_policy_pages_equal_the_table(store_url: str, matrix_limit: int) -> None:  # noqa: F811
    store = Store(store_url)
    records = firm_records(synthetic_firms(400, seed=31))
    store.import_firms(((str(i), r) for i, r in enumerate(records)), source="syn", actor="t")
    policies = synthetic_policies(12, seed=32)
    store.import_policies(policies, actor="t", source="syn", publish=True)
    # A draft: a published policy's tree under another id, never published.
    draft = dataclasses.replace(policies[3], id="draft-1", title="草稿")
    store.import_policies([draft], actor="t", source="syn")
    index = MatchIndex(store, size_standard(), check_interval=0, background=False,
                       matrix_limit=matrix_limit)
    index.prepare(AS_OF)
    for unit_policy in policies[:6]:
        row = store.policy(unit_policy.id)
        assert row is not None and row.state == "published"
        _check(index, row.policy, _oracle(store, row.policy))
    draft_row = store.policy("draft-1")
    assert draft_row is not None and draft_row.state == "draft"
    _check(index, draft_row.policy, _oracle(store, draft_row.policy))
    base = index.snapshot(AS_OF).base
    assert ("draft-1" in {k[0] for k in base.compiled}) and len(base.compiled) <= 4
    if matrix_limit:  # published ones came from the snapshot's verdicts, not compiled
        assert {k[0] for k in base.compiled} == {"draft-1"}
    # Firms changed after the build live in the overlay; their base rows are shadowed.
    for rec in records[5:400:9]:
        changed = {k: v for k, v in rec.items() if k not in ("revenue", "qualifications")}
        store.put_firm(changed, actor="t")
    new = dict(records[0], uscc="91430100MA4L9ZZZ9X", name="新企业")
    store.put_firm(new, actor="t")
    index.touch()
    assert index.snapshot(AS_OF).overlay is not None
    for unit_policy in (policies[0], policies[3], policies[7]):
        _check(index, unit_policy, _oracle(store, unit_policy))
    _check(index, draft_row.policy, _oracle(store, draft_row.policy))
    store.close()


def test_a_changed_draft_is_compiled_again(tmp_path: object) -> None:
    """The cache is keyed by the policy's content: an edited draft is not answered stale."""
    store = Store(f"sqlite:///{tmp_path}/d.db")
    records = firm_records(synthetic_firms(150, seed=41))
    store.import_firms(((str(i), r) for i, r in enumerate(records)), source="syn", actor="t")
    a, b = synthetic_policies(2, seed=42)
    index = MatchIndex(store, size_standard(), check_interval=0, background=False)
    index.prepare(AS_OF)
    first = dataclasses.replace(a, id="draft-x")
    second = dataclasses.replace(b, id="draft-x")
    for policy in (first, second, first):
        _check(index, policy, _oracle(store, policy))
    store.close()
