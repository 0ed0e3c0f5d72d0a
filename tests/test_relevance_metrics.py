"""Ranking metrics, fusion and BM25 against slow references and scikit-learn."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import ndcg_score

from matcher.fusion import fuse, minmax_rows, rank_rows, reciprocal_rank_fusion, weighted_sum
from matcher.lexical import BM25Scorer
from matcher.metrics import (
    mean_ndcg,
    mean_reciprocal_rank,
    ndcg_at_k,
    ranking_report,
    recall_at_k,
    reciprocal_rank,
)
from matcher.texts import firm_texts, policy_texts, support_sections
from matcher.tokenizer import ChineseTokenizer
from profiles.reference import industry_names
from tests._relevance_support import load_relevance_set

# -- metrics -----------------------------------------------------------------------------

grades = st.lists(st.integers(0, 3), min_size=2, max_size=12)


@given(grades, st.integers(1, 12), st.randoms(use_true_random=False))
def test_ndcg_linear_gain_matches_scikit_learn(g: list[int], k: int, rnd: object) -> None:
    ids = [f"p{i}" for i in range(len(g))]
    labels = dict(zip(ids, g, strict=True))
    scores = np.arange(len(ids), 0, -1, dtype=float)  # distinct: no tie handling involved
    order = list(ids)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    score_of = dict(zip(order, scores, strict=True))
    ranked = sorted(ids, key=lambda p: -score_of[p])
    ours = ndcg_at_k(ranked, labels, k, gain="linear")
    if sum(g) == 0:
        assert math.isnan(ours)
        return
    theirs = ndcg_score([g], [[score_of[p] for p in ids]], k=k)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_ndcg_worked_example() -> None:
    labels = {"a": 2, "b": 1, "c": 0}
    ideal = 3 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b", "c"], labels, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "b", "a"], labels, 3) == pytest.approx(
        (1 / math.log2(3) + 3 / math.log2(4)) / ideal
    )
    # An unranked relevant policy still counts in the ideal.
    assert ndcg_at_k(["b"], labels, 3) == pytest.approx(1 / ideal)


def test_recall_and_reciprocal_rank() -> None:
    labels = {"a": 2, "b": 1, "c": 0}
    assert recall_at_k(["c", "a", "x"], labels, 2) == 0.5
    assert recall_at_k(["a", "b"], labels, 1) == 0.5
    assert reciprocal_rank(["c", "x", "b"], labels) == pytest.approx(1 / 3)
    assert reciprocal_rank(["c"], labels) == 0.0
    assert math.isnan(reciprocal_rank(["a"], {"a": 0}))


def test_means_skip_firms_without_relevant_policies() -> None:
    rankings = {"f1": ["a"], "f2": ["b"], "f3": []}
    labels = {"f1": {"a": 1}, "f2": {"a": 1}, "f3": {}}
    assert mean_ndcg(rankings, labels, 5) == pytest.approx(0.5)
    assert mean_reciprocal_rank(rankings, labels) == pytest.approx(0.5)
    assert ranking_report(rankings, labels, 5)["recall@5"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="positive integer"):
        ndcg_at_k(["a"], {"a": 1}, 0)


# -- fusion ------------------------------------------------------------------------------

matrices = st.integers(1, 5).flatmap(
    lambda r: st.integers(1, 8).flatmap(
        lambda c: st.lists(
            st.lists(st.integers(-50, 50).map(lambda v: v / 10), min_size=c, max_size=c),
            min_size=r, max_size=r,
        )
    )
)


@given(matrices)
def test_rank_rows_is_competition_ranking(rows: list[list[float]]) -> None:
    s = np.array(rows)
    expected = np.vstack([rankdata(-r, method="min") for r in s])
    assert np.array_equal(rank_rows(s), expected)


@given(matrices, matrices)
def test_fusions_stay_in_unit_interval(a: list[list[float]], b: list[list[float]]) -> None:
    x = np.array(a)
    y = np.array(b) if np.array(b).shape == x.shape else x[::-1]
    for out in (weighted_sum([x, y], [1.0, 2.0]), reciprocal_rank_fusion([x, y], [1.0, 0.5])):
        assert out.shape == x.shape
        assert np.all(out >= 0) and np.all(out <= 1 + 1e-12)


@given(matrices)
def test_one_signal_keeps_its_order(rows: list[list[float]]) -> None:
    s = np.array(rows)
    for out in (weighted_sum([s], [1.0]), reciprocal_rank_fusion([s], [1.0], k=10)):
        for r in range(s.shape[0]):
            a, b = np.argsort(-s[r], kind="stable"), np.argsort(-out[r], kind="stable")
            assert np.array_equal(s[r][a], s[r][b])  # same order up to ties


def test_weighted_sum_and_rrf_worked_example() -> None:
    lexical = np.array([[3.0, 1.0, 0.0]])
    dense = np.array([[0.70, 0.90, 0.80]])
    # min-max: lexical (1, 1/3, 0), dense (0, 1, 0.5)
    np.testing.assert_allclose(weighted_sum([lexical, dense], [1, 1]), [[0.5, 2 / 3, 0.25]])
    rrf = reciprocal_rank_fusion([lexical, dense], [1, 1], k=1)
    np.testing.assert_allclose(rrf, [[(1 / 2 + 1 / 4) / 1, (1 / 3 + 1 / 2) / 1, (1 / 4 + 1 / 3)]])
    assert np.array_equal(minmax_rows(np.array([[2.0, 2.0]])), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="fusion"):
        fuse([lexical], [1.0], "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weights"):
        weighted_sum([lexical], [-1.0])


# -- BM25 --------------------------------------------------------------------------------


def _slow_bm25(query: list[str], docs: list[list[str]], k1: float, b: float) -> list[float]:
    """BM25 straight from the formula, one document at a time (the oracle)."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    out = []
    for d in docs:
        tf = Counter(d)
        s = 0.0
        for t in set(query):
            if t not in tf:
                continue
            df = sum(1 for x in docs if t in x)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            s += idf * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
        out.append(s)
    return out


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.4), (2.0, 1.0), (1.2, 0.0)])
def test_bm25_matches_the_formula_on_the_relevance_set(k1: float, b: float) -> None:
    data = load_relevance_set()
    names = industry_names()
    docs = policy_texts(data.policies, names)
    queries = firm_texts(data.firms.iloc[::17], names)
    tk = ChineseTokenizer()
    fast = BM25Scorer(tk, k1=k1, b=b).fit(docs).score(queries)
    doc_terms = [tk(d) for d in docs]
    for i, q in enumerate(queries):
        np.testing.assert_allclose(fast[i], _slow_bm25(tk(q), doc_terms, k1, b), rtol=1e-5)


def test_bm25_top_terms_explain_the_score() -> None:
    docs = ["工业机器人整机及减速器", "集成电路设计", "冷链物流"]
    bm = BM25Scorer().fit(docs)
    q = bm.query_matrix(["工业机器人制造；减速器销售；软件开发"])
    terms = bm.top_terms(q, 0, 0, n=5)
    assert terms[0] in ("工业机器人", "减速器")
    assert "机器人" not in terms  # shown as part of 工业机器人
    assert bm.top_terms(q, 0, 1) == []
    assert bm.score(["冷链物流服务"]).argmax() == 2


def test_bm25_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="b must"):
        BM25Scorer(b=1.5).fit(["a"])
    empty = BM25Scorer().fit(["", "的"])  # no terms at all
    assert empty.score(["工业机器人"]).shape == (1, 2)


# -- texts -------------------------------------------------------------------------------


def test_support_sections_are_cut_from_policy_text() -> None:
    text = (
        "一、总体要求\n加快发展。\n二、支持对象\n从事工业机器人研发制造的企业。\n"
        "（一）整机企业。\n（二）零部件企业。\n三、申报条件\n营业收入2000万元以上。\n"
        "【支持方向】\n机器人系统集成。\n四、支持标准\n最高100万元。\n申报对象：省内企业。\n其他。"
    )
    got = support_sections(text)
    assert "从事工业机器人研发制造的企业" in got and "零部件企业" in got
    assert "机器人系统集成" in got and "申报对象：省内企业" in got
    assert "营业收入" not in got and "加快发展" not in got and "最高100万元" not in got
    assert "其他" not in got


def test_policy_text_names_targeted_industries() -> None:
    from matcher.policy import Policy

    p = Policy.from_json({
        "id": "x", "title": "装备补助", "text": "无章节的正文",
        "conditions": {"all": [{"field": "industry_code", "op": "in", "value": ["C3491"]},
                               {"not": {"field": "industry_code", "op": "in", "value": ["C35"]}}]},
    })
    text = policy_texts([p], industry_names())[0]
    assert "工业机器人制造" in text and "无章节的正文" in text
    assert "专用设备制造业" not in text  # excluded industries are not targets


def test_top_terms_many_equals_one_at_a_time() -> None:
    data = load_relevance_set()
    names = industry_names()
    bm = BM25Scorer().fit(policy_texts(data.policies, names))
    q = bm.query_matrix(firm_texts(data.firms.iloc[:20], names))
    docs = list(range(0, 65, 3))
    for row in range(20):
        assert bm.top_terms_many(q, row, docs, 4) == [bm.top_terms(q, row, d, 4) for d in docs]


def test_relevance_set_files_are_what_the_builder_writes() -> None:
    import importlib.util

    from tests._relevance_support import RELEVANCE_DIR

    spec = importlib.util.spec_from_file_location("relevance_build", RELEVANCE_DIR / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, text in build.render().items():
        assert (RELEVANCE_DIR / name).read_text(encoding="utf-8") == text, name
