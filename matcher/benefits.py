"""Benefit amounts (DATA.md §4): fixed, or rate × a profile field, capped.

The benefits listed by one policy are usually alternatives or tiers (首次认定 20万 /
重新认定 10万; 一般 500万 / 高企 1000万 cap), so the estimate is the most a firm may get
from one of them — an upper bound to show "up to ¥…", never a sum of exclusive tiers.
It is unknown (NaN) when a rate-based benefit's base is unknown for the firm, and when
no benefit has a computable amount at all.
"""

from __future__ import annotations

import numpy as np

from matcher.encode import NUMERIC_FIELDS
from matcher.policy import Benefit


def benefit_amount(benefit: Benefit, numeric: np.ndarray) -> np.ndarray | float:
    """Amount of one benefit for every firm (a scalar for fixed amounts)."""
    if benefit.amount is not None:
        return float(benefit.amount)
    assert benefit.rate is not None and benefit.base is not None
    base = numeric[NUMERIC_FIELDS.index(benefit.base)]
    value = np.maximum(benefit.rate * base, 0.0)
    if benefit.cap is not None:
        value = np.minimum(value, benefit.cap)
    return value


def policy_amounts(benefits: tuple[Benefit, ...], numeric: np.ndarray) -> np.ndarray:
    """Estimated amount per firm (yuan, NaN where not computable)."""
    n = numeric.shape[1]
    usable = [b for b in benefits if b.computable]
    if not usable:
        return np.full(n, np.nan)
    out = np.full(n, -np.inf)
    for b in usable:
        out = np.maximum(out, benefit_amount(b, numeric))  # NaN propagates: unknown base
    return out
