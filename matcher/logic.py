"""Kleene three-valued logic as small integers.

false = 0, unknown = 1, true = 2, so that ``all`` is an elementwise minimum, ``any`` a
maximum and ``not`` is ``2 - x`` — exactly the truth tables of DATA.md §3, and cheap to
vectorise over every firm at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FALSE = 0
UNKNOWN = 1
TRUE = 2

STATUS_NAMES = {FALSE: "ineligible", UNKNOWN: "undetermined", TRUE: "eligible"}

Truth = npt.NDArray[np.uint8]


def all_of(values: list[Truth]) -> Truth:
    """Conjunction: false dominates, then unknown; an empty conjunction is true."""
    if not values:
        raise ValueError("all_of needs at least one operand")
    out = values[0].copy()
    for v in values[1:]:
        np.minimum(out, v, out=out)
    return out


def any_of(values: list[Truth]) -> Truth:
    """Disjunction: true dominates, then unknown."""
    if not values:
        raise ValueError("any_of needs at least one operand")
    out = values[0].copy()
    for v in values[1:]:
        np.maximum(out, v, out=out)
    return out


def negate(value: Truth) -> Truth:
    """Negation swaps true and false and keeps unknown."""
    return (TRUE - value).astype(np.uint8)
