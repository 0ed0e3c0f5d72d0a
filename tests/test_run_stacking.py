"""Stacking rules: 就高不重复 groups and per-firm caps, with their explanations."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.errors import ConditionError
from matcher.policy import Policy
from runs.stacking import apply_stacking, stacking_rules


def pol(pid: str, **extra: object) -> Policy:
    return Policy.from_json({"id": pid, "mode": "no_application", **extra})


def table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"uscc": u, "policy_id": p, "status": s, "amount": a, "unmet": "", "unknown": "",
          "score": ""} for u, p, s, a in rows],
        columns=["uscc", "policy_id", "status", "amount", "unmet", "unknown", "score"])


def test_groups_are_symmetric_and_transitive() -> None:
    rules = stacking_rules([pol("a", exclusive_with=["b"]), pol("c", exclusive_with=["b"]),
                            pol("b"), pol("d", exclusive_with=["zz"])])
    assert rules.groups == (("a", "b", "c"),)
    assert rules.notes and "zz" in rules.notes[0]


@pytest.mark.parametrize("extra, field", [
    ({"exclusive_with": "b"}, "exclusive_with"),
    ({"per_firm_cap": -1}, "per_firm_cap"),
    ({"per_firm_cap": True}, "per_firm_cap"),
    ({"cap_group": "g"}, "cap_group"),
])
def test_malformed_declarations_name_policy_and_field(extra: dict, field: str) -> None:
    with pytest.raises(ConditionError) as e:
        stacking_rules([pol("a", **extra)])
    assert e.value.policy_id == "a" and e.value.path == field


def test_highest_of_an_exclusive_group_is_kept_and_the_drop_explained() -> None:
    rules = stacking_rules([pol("a", exclusive_with=["b"]), pol("b")])
    out, adj = apply_stacking(table([
        ("F1", "a", "eligible", "100"), ("F1", "b", "eligible", "300"),
        ("F2", "a", "eligible", "500"), ("F2", "b", "undetermined", "900"),
        ("F3", "a", "eligible", "200"), ("F3", "b", "eligible", "200"),
        ("F4", "b", "eligible", "50"),
    ]), rules)
    kept = set(zip(out["uscc"], out["policy_id"], strict=True))
    assert kept == {("F1", "b"), ("F2", "a"), ("F3", "a"), ("F4", "b")}
    why = dict(zip(adj["uscc"], adj["reason"], strict=True))
    assert "金额较高" in why["F1"] and "保留金额较高的 b" in why["F1"]
    assert "已确认符合条件" in why["F2"]  # eligible beats a larger undetermined amount
    assert "政策编号在前" in why["F3"]
    assert set(adj["action"]) == {"dropped"} and set(adj["rule"]) == {"exclusive_with"}
    assert list(adj.loc[adj["uscc"] == "F1", "kept_policy_id"]) == ["b"]


def test_caps_reduce_then_drop_in_rank_order() -> None:
    rules = stacking_rules([pol("g1", per_firm_cap=250, cap_group="科技"),
                            pol("g2", per_firm_cap=400, cap_group="科技"),
                            pol("g3", per_firm_cap=1000, cap_group="科技"),
                            pol("solo", per_firm_cap=80)])
    out, adj = apply_stacking(table([
        ("F1", "g1", "eligible", "200"), ("F1", "g2", "eligible", "100"),
        ("F1", "g3", "undetermined", "500"), ("F1", "solo", "eligible", "90.5"),
        ("F2", "g1", "eligible", ""),
    ]), rules)
    got = dict(zip(out["uscc"] + "/" + out["policy_id"], out["amount"], strict=True))
    # the group's cap is the smallest declared (250): g1 200 first, g2 cut to 50, g3 dropped
    assert got == {"F1/g1": "200", "F1/g2": "50", "F1/solo": "80", "F2/g1": ""}
    actions = dict(zip(adj["policy_id"], adj["action"], strict=True))
    assert actions == {"g2": "reduced", "g3": "dropped", "solo": "reduced"}
    reason = adj.set_index("policy_id")["reason"]
    assert "调减为50元" in reason["g2"] and "不超过250元" in reason["g2"]
    assert "不再发放" in reason["g3"] and "最高80元" in reason["solo"]


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["F1", "F2", "F3"]), st.sampled_from(["a", "b", "c", "d"]),
              st.sampled_from(["eligible", "undetermined"]),
              st.one_of(st.just(""), st.integers(0, 1000).map(str))),
    max_size=30, unique_by=lambda r: (r[0], r[1]))


@given(rows_strategy)
def test_invariants_of_stacking(rows: list[tuple[str, str, str, str]]) -> None:
    rules = stacking_rules([pol("a", exclusive_with=["b"]), pol("b"),
                            pol("c", per_firm_cap=700, cap_group="G"),
                            pol("d", per_firm_cap=500, cap_group="G")])
    t = table(rows)
    out, adj = apply_stacking(t, rules)
    # nothing lost silently: every input row is kept or explained
    kept = set(zip(out["uscc"], out["policy_id"], strict=True))
    dropped = set(zip(adj.loc[adj["action"] == "dropped", "uscc"],
                      adj.loc[adj["action"] == "dropped", "policy_id"], strict=True))
    assert kept | dropped == {(r[0], r[1]) for r in rows} and not kept & dropped
    for firm, grp in out.groupby("uscc"):
        assert grp["policy_id"].isin(["a", "b"]).sum() <= 1  # one of the exclusive group
        capped = pd.to_numeric(grp.loc[grp["policy_id"].isin(["c", "d"]), "amount"]
                               .replace("", None)).fillna(0)
        assert capped.sum() <= 500 + 1e-9
        # amounts never grow
        for _, row in grp.iterrows():
            before = next(r[3] for r in rows if (r[0], r[1]) == (firm, row["policy_id"]))
            if before:
                assert float(row["amount"]) <= float(before)
