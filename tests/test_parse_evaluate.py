"""The accuracy metric itself: leaf matching rules, one-to-one counting, totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policies.parse.evaluate import Counts, evaluate, match_counts, values_equal


def L(field, op, value):  # noqa: N802 - reads like the JSON
    return {"field": field, "op": op, "value": value, "source": "x"}


def test_values_equal_rules() -> None:
    assert values_equal(["micro", "small"], ["small", "micro"])  # lists as sets
    assert values_equal(20_000_000, 20_090_000)  # within 0.5 %
    assert not values_equal(20_000_000, 20_200_000)
    assert values_equal(0.055, 0.05500000001)
    assert not values_equal(True, 1) and not values_equal(0, False)
    assert values_equal(None, None) and values_equal("A", "A") and not values_equal("A", "B")


def test_one_to_one_matching() -> None:
    pred = [L("unmapped", "review", None), L("unmapped", "review", None), L("revenue", ">=", 1)]
    gold = [L("unmapped", "review", None), L("revenue", ">", 1)]
    counts, fps, fns = match_counts(pred, gold)
    assert (counts.tp, counts.fp, counts.fn) == (1, 2, 1)
    assert fns == [gold[1]]


def test_report_totals_and_missing_prediction() -> None:
    gold = [
        {
            "id": "a",
            "mode": "apply",
            "conditions": {"all": [L("revenue", ">=", 1), L("employees", "<=", 5)]},
        },
        {"id": "b", "mode": "no_application", "conditions": L("region_code", "in", ["43"])},
    ]
    pred = {
        "a": {"id": "a", "mode": "apply", "conditions": {"any": [L("revenue", ">=", 1)]}},
        "b": None,
    }
    r = evaluate(pred, gold)
    assert (r.leaves.tp, r.leaves.fp, r.leaves.fn) == (1, 0, 2)
    assert r.mode_accuracy == 0.5
    assert r.to_json()["per_policy"][1]["parsed"] is False


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_f1_is_harmonic_mean(tp: int, fp: int, fn: int) -> None:
    c = Counts(tp, fp, fn)
    assert 0.0 <= c.f1 <= 1.0
    if tp:
        p, r = tp / (tp + fp), tp / (tp + fn)
        assert abs(c.f1 - 2 * p * r / (p + r)) < 1e-12
