"""A firm's list is ordered by published score, then amount, then catalogue order."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.recommend import AMOUNT_CEILING, published_scores, rank_keys, top_per_row

SCORES = st.one_of(
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 0.5, 0.61234, 0.61236, 0.64, 0.99995, 1.0, 0.12345]),
)
AMOUNTS = st.one_of(
    st.sampled_from([math.nan, 0.0, 1.0, 5e5, 5e5 + 1, 1e7, 3e12, AMOUNT_CEILING]),
    st.integers(0, 10**9).map(float),  # whole yuan: the key resolves ¥1 up to ¥10亿
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(SCORES, AMOUNTS, st.booleans()), min_size=1, max_size=40),
    k=st.integers(1, 45),
)
def test_order_is_published_score_then_amount_then_catalogue(
    rows: list[tuple[float, float, bool]], k: int
) -> None:
    score = np.array([[s for s, _, _ in rows]])
    amounts = np.array([[a for _, a, _ in rows]])
    mask = np.array([[m for _, _, m in rows]])
    cols, valid = top_per_row(rank_keys(score, amounts), mask, k)
    got = [int(c) for c, ok in zip(cols[0], valid[0], strict=True) if ok]
    shown = published_scores(score)[0]
    money = np.nan_to_num(amounts[0], nan=0.0)
    want = sorted(
        (j for j in range(len(rows)) if mask[0, j]),
        key=lambda j: (-shown[j], -money[j], j),
    )[:k]
    assert got == want
    assert np.all(np.diff(shown[got]) <= 0)  # what the user reads never rises
