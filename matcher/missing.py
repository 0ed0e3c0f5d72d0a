"""Which profile fields a firm must fill in to settle an unknown condition.

DATA.md §5 says the ``unknown`` column lists "the profile fields that were missing". A
condition on a derived attribute (``rd_ratio``, ``size_class`` …) is unknown because one of
the profile fields it is computed from is missing, and a firm cannot fill in ``rd_ratio``:
it can fill in ``rd_expense``. So unknown derived attributes are reported as their missing
inputs, per firm (one firm lacks its revenue, another its R&D expense).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from matcher.derive import SIZE_METRICS, size_metrics_used

# DATA.md §1, "Derived attributes": the profile fields each one is computed from.
DERIVED_INPUTS: dict[str, tuple[str, ...]] = {
    "age_years": ("established_on",),
    "rd_ratio": ("rd_expense", "revenue"),
    "rd_increase": ("rd_expense", "rd_expense_prev"),
    "size_class": ("industry_code", "employees", "revenue", "total_assets"),
    "above_scale": ("industry_code", "revenue"),
}


def profile_inputs(field: str) -> tuple[str, ...]:
    """The profile fields behind ``field`` (itself when it is a profile field)."""
    return DERIVED_INPUTS.get(field, (field,))


def inputs_of(fields: Sequence[str]) -> list[str]:
    """Every profile input of the derived attributes among ``fields``, in a fixed order."""
    return list(dict.fromkeys(i for f in fields if f in DERIVED_INPUTS
                              for i in DERIVED_INPUTS[f]))


# Extra bits after the inputs': the firm's size group is known and ignores this metric.
_UNUSED = tuple(f"unused:{m}" for m in SIZE_METRICS)


def mask_inputs(fields: Sequence[str]) -> list[str]:
    """The bit layout of :func:`missing_mask` for unknown condition ``fields``."""
    inputs = inputs_of(fields)
    return inputs + list(_UNUSED) if "size_class" in fields else inputs


def missing_mask(frame: pd.DataFrame, inputs: Sequence[str],
                 size_standard: pd.DataFrame | None = None,
                 rows: np.ndarray | None = None) -> np.ndarray:
    """Per row, bit k set when ``inputs[k]`` is missing (or, for ``unused:<metric>``, when
    the firm's size group does not use that metric — known only with ``size_standard``).

    ``rows``: only those rows (positions), in that order. The columns read are picked
    before the rows: gathering a million rows of a whole derived table cost ~0.15 s.
    """
    if rows is not None:
        wanted = {i for i in inputs if not i.startswith("unused:")}
        if len(wanted) < len(inputs):
            wanted.add("industry_code")
        frame = frame[[c for c in frame.columns if c in wanted]].iloc[rows]
    mask = np.zeros(len(frame), dtype=np.int64)
    used: dict[str, np.ndarray] | None = None
    for k, name in enumerate(inputs):
        if name.startswith("unused:"):
            if size_standard is None or "industry_code" not in frame.columns:
                continue
            if used is None:
                used = size_metrics_used(frame["industry_code"], size_standard)
            flag = ~used[name.removeprefix("unused:")] & (
                frame["industry_code"].notna().to_numpy(dtype=bool))
        elif name in frame.columns:
            flag = frame[name].isna().to_numpy(dtype=bool)
        else:
            flag = np.ones(len(frame), dtype=bool)
        mask |= flag.astype(np.int64) << k
    return mask


def missing_fields(fields: Sequence[str], inputs: Sequence[str], mask: int) -> list[str]:
    """``fields`` (unknown condition fields) as the profile fields to fill in.

    A derived attribute becomes its missing inputs (bits of ``mask`` over ``inputs``); when
    none of them is missing (e.g. revenue is zero, or an industry code too coarse for the
    size standard) the attribute itself is kept, since no missing field explains it.
    """
    def bit(name: str) -> bool:
        return name in inputs and bool(mask >> inputs.index(name) & 1)

    out: list[str] = []
    for field in fields:
        if field not in DERIVED_INPUTS:
            out.append(field)
            continue
        gone = [i for i in DERIVED_INPUTS[field] if bit(i)
                and not (field == "size_class" and bit(f"unused:{i}"))]
        out.extend(gone or [field])
    return list(dict.fromkeys(out))


# One layout for every derived attribute: what a long-lived index keeps per firm.
ALL_INPUTS: list[str] = mask_inputs(list(DERIVED_INPUTS))


def relevant_bits(fields: Sequence[str]) -> int:
    """Bits of :data:`ALL_INPUTS` that can change how ``fields`` are reported."""
    wanted = set(mask_inputs(fields))
    return sum(1 << k for k, name in enumerate(ALL_INPUTS) if name in wanted)
