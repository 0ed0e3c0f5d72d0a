"""The benchmark's synthetic data is contract data, and the fast kernel agrees with the oracle.

The synthetic generator feeds every benchmark, so its firms must be exactly what the
readers produce (types, valid codes and check digits) and its policies valid contract
policies. On those realistic trees and firms — region-sorted, blocked, in parallel, with
every leaf form the compiler chooses — the kernel must give the per-firm oracle's
verdicts, and its explanation masks the oracle's leaf values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.synthetic import AS_OF, firm_records, synthetic_firms, synthetic_policies
from matcher.compile import compile_policies
from matcher.derive import derive
from matcher.eligibility import eligibility_table, evaluate
from matcher.encode import encode
from matcher.explain import leaf_values
from matcher.kernel import evaluate_program, explain_patterns, explain_program
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Policy
from profiles.read import normalize_profile, profiles_frame
from profiles.reference import size_standard
from profiles.uscc import make_uscc
from tests import oracle


@pytest.fixture(scope="module")
def firms() -> pd.DataFrame:
    return synthetic_firms(2_000, seed=7)


@pytest.fixture(scope="module")
def policies() -> list[Policy]:
    return synthetic_policies(50, seed=7)


def test_firms_have_the_readers_columns_and_types(firms: pd.DataFrame) -> None:
    expected = profiles_frame([])
    assert list(firms.columns) == list(expected.columns)
    assert firms.dtypes.to_dict() == expected.dtypes.to_dict()
    assert firms["uscc"].is_unique


def test_firm_records_are_what_the_reader_accepts(firms: pd.DataFrame) -> None:
    """Valid USCC (both check digits), GB/T 2260 regions, GB/T 4754 industries, units."""
    for i, rec in enumerate(firm_records(firms.iloc[:300])):
        assert normalize_profile(dict(rec), f"row {i}") == rec


def test_vectorised_uscc_matches_make_uscc(firms: pd.DataFrame) -> None:
    for code in firms["uscc"].iloc[:200]:
        assert make_uscc(code[2:8], code[8:16]) == code


def test_firms_are_deterministic_and_realistic(firms: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(synthetic_firms(2_000, seed=7), firms)
    assert not synthetic_firms(50, seed=8)["uscc"].isin(firms["uscc"].iloc[:50]).all()
    hunan = firms["region_code"].str.startswith("43").fillna(False)
    assert 0.9 < hunan.mean() < 1.0  # mostly Hunan, a few outsiders
    assert firms["region_code"].str.startswith("4301").mean() > 0.15  # 长沙 leads
    assert 0.0 < firms["revenue"].isna().mean() < 0.2  # some unknowns, never zero-filled
    assert firms["qualifications"].isna().any() and (firms["qualifications"].str.len() == 0).any()


def test_policies_round_trip_and_have_the_asked_size(policies: list[Policy]) -> None:
    assert [Policy.from_json(p.to_json()) for p in policies] == policies
    sizes = [len(list(p.conditions.leaves())) for p in policies if p.conditions is not None]
    assert len(sizes) == len(policies) and min(sizes) >= 3 and max(sizes) <= 8
    assert len({p.id for p in policies}) == len(policies)
    assert [p.to_json() for p in synthetic_policies(50, seed=7)] == [p.to_json() for p in policies]
    small = synthetic_policies(20, seed=1, leaves=(1, 2))
    assert all(1 <= len(list(p.conditions.leaves())) <= 2 for p in small if p.conditions)


def test_firms_pass_through_evaluate(firms: pd.DataFrame, policies: list[Policy]) -> None:
    ev = evaluate(firms, policies, AS_OF, size_standard())
    assert ev.status.shape == (len(policies), len(firms))
    assert set(np.unique(ev.status)) == {FALSE, UNKNOWN, TRUE}  # the policies split firms
    some = evaluate(firms.iloc[:200], policies[:10], AS_OF, size_standard())
    table = eligibility_table(some, statuses=["eligible", "undetermined"])
    assert set(table["status"]) <= {"eligible", "undetermined"}
    assert (table.loc[table["status"] == "undetermined", "unknown"] != "").all()


def _oracle_verdicts(firms: pd.DataFrame, policies: list[Policy]) -> np.ndarray:
    rows = derive(firms, AS_OF, size_standard()).to_dict(orient="records")
    return np.array(
        [[oracle.evaluate(r, p.conditions) if p.valid_on(AS_OF) else FALSE for r in rows]
         for p in policies],
        dtype=np.uint8,
    )


def test_kernel_agrees_with_oracle_on_synthetic_data(
    firms: pd.DataFrame, policies: list[Policy]
) -> None:
    columns = encode(derive(firms, AS_OF, size_standard()))
    program = compile_policies(policies, columns, AS_OF)
    expected = _oracle_verdicts(firms, policies)
    for block in (2048, 64, 100):  # block edges must fall anywhere inside region slices
        status = evaluate_program(program, columns, block=block)
        got = np.empty_like(status)
        got[:, columns.order] = status
        np.testing.assert_array_equal(got, expected, err_msg=f"block={block}")


def test_explanation_masks_give_the_oracles_leaf_values(
    firms: pd.DataFrame, policies: list[Policy]
) -> None:
    """Masks from the gathering path = per-leaf oracle values; patterns rebuild the masks."""
    columns = encode(derive(firms, AS_OF, size_standard()))
    program = compile_policies(policies, columns, AS_OF)
    rows = columns.frame.to_dict(orient="records")
    idx = np.random.default_rng(0).permutation(columns.n)[:500]
    status = evaluate_program(program, columns)
    for p, policy in enumerate(policies):
        verdict, fmask, umask = explain_program(program, columns, p, idx, block=128)
        leaves = program.leaves[p]
        for i, f, u in zip(idx[:100], fmask, umask, strict=False):
            assert leaf_values(len(leaves), int(f), int(u)) == [
                oracle.leaf(rows[i], leaf) for leaf in leaves]
        if policy.valid_on(AS_OF):
            np.testing.assert_array_equal(verdict, status[p, idx])
        pf, pu, inverse = explain_patterns(program, columns, p, idx)
        np.testing.assert_array_equal(pf[inverse], fmask)
        np.testing.assert_array_equal(pu[inverse], umask)
        assert len(set(zip(pf.tolist(), pu.tolist(), strict=True))) == len(pf)


@pytest.mark.parametrize("distinct", [30, 31, 32, 40])
def test_coded_leaf_forms_agree_at_their_limits(distinct: int) -> None:
    """Packed-bit tables up to 32 entries (the top bit in use), intervals and gathers."""
    from bench.synthetic import hunan_counties

    codes = sorted(c for cs in hunan_counties().values() for c in cs)[:distinct]
    records = [
        {"uscc": make_uscc(code, f"MA{i:06d}"), "name": f"企业{i}", "region_code": code}
        for i, code in enumerate(codes)
    ] + [{"uscc": make_uscc("430100", "MB000000"), "name": "未知地区"}]
    frame = profiles_frame(records)
    last, middle = codes[-1], codes[len(codes) // 2]
    scattered = codes[::3]  # many separate runs: a table gather
    trees = [
        {"field": "region_code", "op": "in", "value": [last]},
        {"field": "region_code", "op": "not_in", "value": [last, middle]},
        {"field": "region_code", "op": "==", "value": middle},
        {"any": [{"field": "region_code", "op": "in", "value": scattered}]},
        {"not": {"field": "region_code", "op": "in", "value": scattered}},
    ]
    policies = [Policy.from_json({"id": f"p{i}", "conditions": t}) for i, t in enumerate(trees)]
    ev = evaluate(frame, policies, AS_OF, size_standard())
    got = np.empty_like(ev.status)
    got[:, ev.firms.order] = ev.status
    np.testing.assert_array_equal(got, _oracle_verdicts(frame, policies))
