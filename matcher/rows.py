"""The listed rows of an evaluation, column by column: codes and numbers, no string per row.

A province-wide 免申即享 list has millions of (firm, policy) rows. Building each as Python
strings (status names, formatted amounts, reasons) cost ten times the evaluation itself.
Here a row is a handful of numbers — policy index, firm index, status code, amount, reason
code — and the texts exist once: the policy ids, the three status names and one
(``unmet``, ``unknown``) pair per distinct pattern of failed/unknown leaves (reasons depend
only on that pattern). Writers turn codes into text at the very end, on dictionaries.

Rows come out ordered by construction — policies by id, then firms in the order given
(by uscc for a published list) — so no sort of the rows is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matcher.eligibility import Evaluation
from matcher.logic import STATUS_NAMES, TRUE


@dataclass(frozen=True)
class ListedRows:
    """Rows of an eligibility table as parallel arrays (one entry per row)."""

    policy: np.ndarray  # int32: index into the evaluation's policies
    firm: np.ndarray  # int64: firm index in the evaluation's (region) order
    status: np.ndarray  # uint8: logic value, names in matcher.logic.STATUS_NAMES
    amount: np.ndarray  # float64: yuan as published (to the fen), NaN when unknown
    reason: np.ndarray  # int32: index into ``unmet`` / ``unknown``
    unmet: list[str]  # reason texts; entry 0 is the empty reason
    unknown: list[str]

    def __len__(self) -> int:
        return len(self.policy)


def published_amounts(values: np.ndarray) -> np.ndarray:
    """Amounts as the list states them: whole yuan, or rounded to the fen; NaN stays unknown.

    The value is exactly the number the CSV text denotes (``matcher.eligibility.
    format_amounts``: whole yuan without decimals when within half a fen, else ``%.2f``),
    so the numbers kept until the writer and the text it prints agree. ``fen / 100`` is the
    double nearest to the decimal text; amounts too close to half a fen for a product in
    doubles to decide are rounded by ``%.2f`` itself, as the text is.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    known = np.isfinite(v)
    if not known.any():
        return out
    x = v[known]
    r = np.round(x)
    whole = np.abs(x - r) < 0.005
    cents = x * 100.0
    fen = np.round(cents)
    tie = np.abs(np.abs(cents - fen) - 0.5) <= 1e-9 * np.maximum(np.abs(cents), 1.0)
    pub = np.where(whole, r + 0.0, fen / 100.0)
    hard = ~whole & (tie | (np.abs(cents) >= 2.0**52))
    if hard.any():
        pub[hard] = np.char.mod("%.2f", x[hard]).astype(np.float64)
    out[known] = pub
    return out


def listed_rows(
    ev: Evaluation,
    statuses: Sequence[str] | None = None,
    firm_order: np.ndarray | None = None,
) -> ListedRows:
    """The rows with one of ``statuses`` (all when None), policies by id, firms in ``firm_order``.

    ``firm_order`` is a permutation of the firm indices (e.g. by uscc); by default the
    evaluation's own order. Amounts are given for every listed row except ineligible ones
    (as in :func:`matcher.eligibility.eligibility_table`); reasons for every row that is not
    eligible.
    """
    codes = [k for k in range(3) if statuses is None or STATUS_NAMES[k] in set(statuses)]
    order = np.arange(ev.firms.n) if firm_order is None else np.asarray(firm_order, np.int64)
    texts: dict[tuple[str, str], int] = {("", ""): 0}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("p", "f", "s", "a", "r")}
    by_id = sorted(range(len(ev.policies)), key=lambda p: ev.policies[p].id)
    for p in by_id:
        status = ev.status[p][order]
        keep = np.isin(status, codes) if len(codes) < 3 else np.ones(len(order), dtype=bool)
        pos = np.flatnonzero(keep)
        if len(pos) == 0:
            continue
        firm = order[pos]
        st = status[pos]
        amount = published_amounts(ev.amounts(p)[firm])
        amount[st == 0] = np.nan
        reason = np.zeros(len(pos), dtype=np.int32)
        need = np.flatnonzero(st != TRUE)
        if len(need):
            local, unmet, unknown = ev.reason_codes(p, firm[need])
            glob = np.array([texts.setdefault(pair, len(texts))
                             for pair in zip(unmet, unknown, strict=True)], dtype=np.int32)
            reason[need] = glob[local]
        parts["p"].append(np.full(len(pos), p, dtype=np.int32))
        parts["f"].append(firm)
        parts["s"].append(st.astype(np.uint8))
        parts["a"].append(amount)
        parts["r"].append(reason)
    pairs = list(texts)

    def cat(key: str, dtype: type) -> np.ndarray:
        return np.concatenate(parts[key]) if parts[key] else np.empty(0, dtype=dtype)

    return ListedRows(
        policy=cat("p", np.int32), firm=cat("f", np.int64), status=cat("s", np.uint8),
        amount=cat("a", np.float64), reason=cat("r", np.int32),
        unmet=[u for u, _ in pairs], unknown=[k for _, k in pairs],
    )
