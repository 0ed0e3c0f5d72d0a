"""PolicyMatcher as a scikit-learn estimator: API checks, clone, pickle, Pipeline, GridSearchCV."""

from __future__ import annotations

import pickle
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as checks

from matcher.dense import MemoizedEncoder
from matcher.eligibility import eligibility_table, evaluate
from matcher.estimator import PolicyMatcher
from matcher.logic import FALSE
from matcher.recommend import MATCH, NEAR_MISS
from tests._relevance_support import AS_OF, RelevanceSet, load_relevance_set, lsa_for, matcher_for

# Checks that apply to an estimator whose rows are firm profile frames. The others feed
# random numeric matrices (fit on floats, NaN/inf handling, sparse input …), which are not
# firms; they are left out on purpose.
API_CHECKS = (
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_mixin_order,
    checks.check_estimators_unfitted,
)


@cache
def data() -> RelevanceSet:
    return load_relevance_set()


@cache
def encoder() -> MemoizedEncoder:
    return MemoizedEncoder(lsa_for(data()))


def fitted(**params: object) -> PolicyMatcher:
    return matcher_for(data(), encoder=encoder(), **params).fit()


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_scikit_learn_api_checks(check: object) -> None:
    check("PolicyMatcher", PolicyMatcher())  # type: ignore[operator]


def test_clone_keeps_parameters_and_shares_the_memoized_encoder() -> None:
    m = matcher_for(data(), encoder=encoder(), dense_weight=0.3, fusion="rrf")
    c = clone(m)
    assert c.get_params()["dense_weight"] == 0.3 and c.get_params()["fusion"] == "rrf"
    assert c.encoder is m.encoder  # MemoizedEncoder clones to itself
    assert c.policies == m.policies  # the catalogue travels with the parameters
    assert not hasattr(c, "catalogue_")


def test_unfitted_and_invalid_parameters_are_refused() -> None:
    with pytest.raises(NotFittedError):
        matcher_for(data()).recommend(data().firms)
    with pytest.raises(ValueError, match="policies"):
        PolicyMatcher().fit()
    with pytest.raises(ValueError, match="fusion"):
        matcher_for(data(), fusion="max").fit()
    with pytest.raises(ValueError, match="preference_weight"):
        matcher_for(data(), preference_weight=1.5).fit()
    with pytest.raises(ValueError, match="top_k"):
        matcher_for(data(), top_k=0).fit()
    with pytest.raises(ValueError, match="as_of"):
        matcher_for(data()).set_params(as_of="2026-06-30").fit()
    with pytest.raises(TypeError, match="DataFrame"):
        fitted().recommend(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="encode_queries"):
        matcher_for(data(), encoder=object()).fit()


def test_pickle_round_trip_gives_identical_recommendations() -> None:
    m = fitted()
    X = data().firms.iloc[:12]
    again = pickle.loads(pickle.dumps(m))
    pd.testing.assert_frame_equal(m.recommend(X), again.recommend(X))


def test_decision_function_is_relevance_in_unit_interval() -> None:
    m = fitted()
    X = data().firms
    s = m.decision_function(X)
    assert s.shape == (len(X), len(data().policies))
    assert np.all(s >= 0) and np.all(s <= 1)
    # A robot maker finds robot policies more relevant than logistics ones, on average.
    ids = list(m.policy_ids_)
    robot = [ids.index(f"rel-robot-{i}") for i in (1, 2, 3)]
    logistics = [ids.index(f"rel-logistics-{i}") for i in (1, 2, 3)]
    rows = [i for i, u in enumerate(X["uscc"]) if data().sector[u] == "robot"]
    assert s[np.ix_(rows, robot)].mean() > s[np.ix_(rows, logistics)].mean() + 0.2


def test_eligibility_is_the_core_table_with_relevance_in_score() -> None:
    m = fitted()
    X = data().firms.iloc[:20]
    ours = m.eligibility(X)
    core = eligibility_table(evaluate(X, data().policies, AS_OF, m.size_standard))
    cols = ["uscc", "policy_id", "status", "amount", "unmet", "unknown"]
    pd.testing.assert_frame_equal(ours[cols], core[cols])
    scores = ours["score"].astype(float)
    assert scores.between(0, 1).all() and scores.nunique() > 10


def test_recommendations_exclude_ineligible_and_read_in_descending_score() -> None:
    m = fitted(top_k=7)
    X = data().firms
    table = m.recommend(X)
    matches = table[table["kind"] == MATCH]
    assert set(matches["status"]) <= {"eligible", "undetermined"}
    assert set(table[table["kind"] == NEAR_MISS]["status"]) <= {"ineligible"}
    assert matches.groupby("uscc").size().max() <= 7
    assert list(dict.fromkeys(table["uscc"])) == [u for u in X["uscc"] if u in set(table["uscc"])]
    ids = list(m.policy_ids_)
    ev, _ = m.catalogue_.evaluate(X, m.size_standard)
    back = np.argsort(ev.firms.order)
    status = ev.status[:, back]
    rel = m.decision_function(X)
    row_of = {u: i for i, u in enumerate(X["uscc"])}
    ties_broken = 0
    for u, group in matches.groupby("uscc", sort=False):
        i = row_of[u]
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        cols = [ids.index(p) for p in group["policy_id"]]
        np.testing.assert_allclose(group["score"], rel[i, cols].round(4), atol=1e-4)
        shown = group["score"].to_numpy(dtype=float)
        amounts = np.array([0.0 if a is None else a for a in group["amount"]], dtype=float)
        # What the user sees: scores never rise down the list; equal scores, more money first.
        assert np.all(np.diff(shown) <= 0), (u, shown)
        same = np.diff(shown) == 0
        assert np.all(np.diff(amounts)[same] <= 0), (u, shown, amounts)
        ties_broken += int(np.sum(same & (np.diff(amounts) < 0)))
        # Nothing eligible outside the list beats the last one shown.
        others = [j for j in range(len(ids)) if j not in set(cols) and status[j, i] != FALSE]
        if others and len(group) == 7:
            best_other = np.round(rel[i, others], 4).max()
            assert best_other <= shown[-1]
            if best_other == shown[-1]:
                amt = np.nan_to_num([ev.amounts(j)[back][i] for j in others
                                     if np.round(rel[i, j], 4) == shown[-1]])
                assert amt.max() <= amounts[-1]
    assert ties_broken > 0  # the amount tie-break is exercised on this data


def test_output_is_deterministic_and_independent_of_batch_size() -> None:
    X = data().firms.iloc[:40]
    a = fitted(batch_size=5000).recommend(X)
    b = fitted(batch_size=7).recommend(X)
    pd.testing.assert_frame_equal(a, b)


def test_pipeline_in_grid_search() -> None:
    tune_X, tune_y = data().part("tune")
    pipe = Pipeline([
        # Analysts' cleaning step: a firm with no product list falls back to its scope.
        ("clean", FunctionTransformer(
            lambda X: X.assign(products=X["products"].fillna(X["business_scope"])),
            feature_names_out="one-to-one",
        )),
        ("match", matcher_for(data(), encoder=encoder(), near_misses=0)),
    ])
    grid = GridSearchCV(
        pipe,
        {"match__dense_weight": [0.0, 1.0], "match__fusion": ["weighted", "rrf"]},
        cv=KFold(2, shuffle=True, random_state=0), error_score="raise",
    )
    grid.fit(tune_X, tune_y)
    assert set(grid.best_params_) == {"match__dense_weight", "match__fusion"}
    assert 0 < grid.best_score_ <= 1
    test_X, test_y = data().part("test")
    assert 0 < grid.score(test_X, test_y) <= 1
    assert len(grid.cv_results_["mean_test_score"]) == 4


def test_score_accepts_graded_mappings_and_plain_sets() -> None:
    m = fitted()
    X, y = data().part("test")
    graded = m.score(X, y)
    as_sets = m.score(X, [{p for p, g in lab.items() if g >= 2} for lab in y])
    assert 0 < graded <= 1 and 0 < as_sets <= 1
    with pytest.raises(ValueError, match="entries"):
        m.score(X, y[:-1])


def test_bm25_only_without_encoder() -> None:
    m = matcher_for(data(), dense_weight=5.0).fit()  # no encoder: the weight has no effect
    X = data().firms.iloc[:30]
    a = m.decision_function(X)
    b = matcher_for(data(), dense_weight=0.0).fit().decision_function(X)
    np.testing.assert_allclose(a, b)
