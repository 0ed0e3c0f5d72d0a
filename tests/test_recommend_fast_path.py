"""The few-firm paths of ``derive`` and ``encode`` give exactly the column paths' results.

One firm's recommendations on request go through ``_derive_small`` / ``_encode_small``;
batches through ``derive_columns`` / ``encode_columns``. Everything downstream (kernel,
explanations, amounts) reads the encoded arrays and the frame, so both must agree value
for value and dtype for dtype, on any profile, including values the fast path hands
back to pandas (non-ISO or impossible dates).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.derive import SMALL_ROWS, derive, derive_columns
from matcher.encode import SMALL_ROWS as ENCODE_SMALL_ROWS
from matcher.encode import FirmColumns, encode, encode_columns
from profiles.read import profiles_frame
from profiles.reference import size_standard
from tests.strategies import firm_records

STANDARD = size_standard()
ODD_DATES = ["2020/01/02", "2021-02-30", "20200102", "0001-01-01", "2020-1-2", " 2020-01-02",
             "2024-02-29", "1999-12-31", "2026-11-26"]
ODD_CODES = ["", "C", "F5", "H6", "B0610", "Z9", "c3491", "430111 ", "４３０１", "9"]
FLOATS = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 2e7, 5e6, 300.0, -5.0]),
)


@st.composite
def small_profiles(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, SMALL_ROWS))
    records: list[dict[str, Any]] = []
    for i in range(n):
        rec = draw(firm_records(index=i))
        if draw(st.booleans()):
            rec["established_on"] = draw(st.sampled_from(ODD_DATES))
        for field in ("region_code", "industry_code"):
            if draw(st.integers(0, 4)) == 0:
                rec[field] = draw(st.one_of(st.sampled_from(ODD_CODES), st.text(max_size=4)))
        for field in ("revenue", "employees", "total_assets", "rd_expense", "rd_expense_prev"):
            if draw(st.integers(0, 3)) == 0:
                value = draw(FLOATS)
                if value is None:
                    rec.pop(field, None)
                else:
                    rec[field] = value
        records.append(rec)
    frame = profiles_frame(records)
    if draw(st.booleans()):  # callers pass slices of larger frames: any index
        frame.index = pd.Index(draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n,
                                             unique=True)))
    return frame


def _assert_same_columns(fast: FirmColumns, slow: FirmColumns) -> None:
    np.testing.assert_array_equal(fast.uscc, slow.uscc)
    np.testing.assert_array_equal(fast.order, slow.order)
    assert fast.order.dtype == slow.order.dtype
    np.testing.assert_array_equal(fast.numeric, slow.numeric)  # NaN == NaN here
    np.testing.assert_array_equal(fast.codes, slow.codes)
    assert fast.codes.dtype == slow.codes.dtype
    assert fast.vocab == slow.vocab
    np.testing.assert_array_equal(fast.qualification_mask, slow.qualification_mask)
    np.testing.assert_array_equal(fast.region_sorted, slow.region_sorted)
    assert fast.region_sorted.dtype == slow.region_sorted.dtype
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)


@pytest.mark.filterwarnings("ignore:Could not infer format")  # the odd dates, on purpose
@settings(max_examples=300, deadline=None)
@given(profiles=small_profiles(),
       as_of=st.dates(dt.date(2020, 1, 1), dt.date(2032, 12, 31)))
def test_few_firms_derive_and_encode_like_the_column_paths(
    profiles: pd.DataFrame, as_of: dt.date
) -> None:
    fast = derive(profiles, as_of, STANDARD)
    slow = derive_columns(profiles, as_of, STANDARD)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert len(profiles) <= ENCODE_SMALL_ROWS
    _assert_same_columns(encode(slow), encode_columns(slow))


@settings(max_examples=50, deadline=None)
@given(profiles=small_profiles(), drop=st.sets(st.sampled_from(
    ["region_code", "industry_code", "tax_credit_rating", "listed", "qualifications",
     "employees"]), min_size=1))
def test_missing_columns_are_unknown_on_both_paths(profiles: pd.DataFrame, drop: set[str]) -> None:
    derived = derive_columns(profiles, dt.date(2026, 11, 26), STANDARD)
    derived = derived.drop(columns=[c for c in drop if c not in ("industry_code",)])
    _assert_same_columns(encode(derived), encode_columns(derived))


def test_deriving_a_derived_frame_again_replaces_the_columns() -> None:
    profiles = profiles_frame([{"uscc": "91430100MA000000X1", "established_on": "2020-01-01",
                                "revenue": 3e7, "industry_code": "C3491", "employees": 50.0}])
    once = derive(profiles, dt.date(2026, 11, 26), STANDARD)
    twice = derive(once, dt.date(2027, 11, 26), STANDARD)
    assert list(twice.columns) == list(once.columns)
    assert twice["age_years"].tolist() == [7.0]
    pd.testing.assert_frame_equal(
        twice, derive_columns(once, dt.date(2027, 11, 26), STANDARD), check_exact=True
    )
