"""The eligibility table (DATA.md §5): every (firm, policy) verdict with amount and reasons.

Verdicts for all pairs come from one kernel pass; reasons are computed afterwards only for
rows that need them and only once per distinct pattern of failed/unknown leaves, which is
what keeps explanations cheap on a million firms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.benefits import policy_amounts
from matcher.compile import MAX_TRACKED_LEAVES, Program, compile_policies
from matcher.conditions import Criterion
from matcher.derive import derive
from matcher.encode import FirmColumns, encode
from matcher.explain import blamed_leaves, describe, join_unique, leaf_values
from matcher.kernel import evaluate_program, explain_patterns, explain_program
from matcher.logic import STATUS_NAMES, TRUE
from matcher.missing import mask_inputs, missing_fields, missing_mask
from matcher.policy import Policy


class Columns:
    """Column names of the eligibility table, verbatim from DATA.md §5."""

    USCC = "uscc"
    POLICY_ID = "policy_id"
    STATUS = "status"
    AMOUNT = "amount"
    UNMET = "unmet"
    UNKNOWN = "unknown"
    SCORE = "score"
    ALL = (USCC, POLICY_ID, STATUS, AMOUNT, UNMET, UNKNOWN, SCORE)


@dataclass
class Evaluation:
    """Everything one evaluation produced, kept together so callers can explain lazily."""

    firms: FirmColumns
    policies: list[Policy]
    program: Program
    status: np.ndarray  # uint8 [n_policies, n_firms], firms in region order
    as_of: dt.date
    # Lets ``unknown`` skip size metrics a firm's industry group does not use.
    size_standard: pd.DataFrame | None = None

    def amounts(self, p: int) -> np.ndarray:
        return policy_amounts(self.policies[p].benefits, self.firms.numeric)

    def reasons(self, p: int, firm_idx: np.ndarray) -> tuple[list[str], list[str]]:
        """``unmet`` and ``unknown`` strings for firms (region-order indices) of policy p."""
        codes, unmet, unknown = self.reason_codes(p, firm_idx)
        return (np.array(unmet, dtype=object)[codes].tolist(),
                np.array(unknown, dtype=object)[codes].tolist())

    def reason_codes(self, p: int, firm_idx: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
        """Reasons as codes: per firm an index into the (``unmet``, ``unknown``) texts.

        The texts are worded once per distinct pattern of failed/unknown leaves, so a
        caller that keeps the codes (a columnar list) never builds a string per row.
        """
        policy = self.policies[p]
        n = len(firm_idx)
        if not policy.valid_on(self.as_of):
            window = f"{policy.valid_from or '—'} 至 {policy.valid_until or '—'}"
            return np.zeros(n, dtype=np.intp), [f"不在政策有效期内（{window}）"], [""]
        if policy.conditions is None or n == 0:
            return np.zeros(n, dtype=np.intp), [""], [""]
        leaves = self.program.leaves[p]
        if len(leaves) <= MAX_TRACKED_LEAVES:
            fm, um, inverse = explain_patterns(self.program, self.firms, p, firm_idx)
            patterns = [leaf_values(len(leaves), int(f), int(u))
                        for f, u in zip(fm, um, strict=True)]
        else:
            values = leaf_matrix(self, p, leaves, firm_idx)
            keys, inverse = np.unique(values, axis=0, return_inverse=True)
            patterns = [list(row) for row in keys]
        blamed = [blamed_leaves(policy.conditions, leaves, v) for v in patterns]
        unmet = [join_unique([describe(x) for x in failed]) for failed, _ in blamed]
        fields = [[x.field for x in unknown] for _, unknown in blamed]
        inverse = np.asarray(inverse, dtype=np.intp).reshape(-1)
        inputs = mask_inputs([f for fs in fields for f in fs])
        if not inputs:
            return inverse, unmet, [join_unique(fs) for fs in fields]
        # An unknown derived attribute is reported as the firm's missing inputs, which
        # differ between firms of one pattern: word each (pattern, missing inputs) once.
        mask = missing_mask(self.firms.frame, inputs, self.size_standard, firm_idx)
        keyed, combos = pd.factorize(inverse.astype(np.int64) << 32 | mask, sort=False)
        combos = np.asarray(combos, dtype=np.int64)
        pattern_of, mask_of = combos >> 32, combos & 0xFFFFFFFF
        return (np.asarray(keyed, dtype=np.intp),
                [unmet[k] for k in pattern_of],
                [join_unique(missing_fields(fields[k], inputs, int(m)))
                 for k, m in zip(pattern_of, mask_of, strict=True)])


def leaf_matrix(ev: Evaluation, p: int, leaves: list[Criterion], idx: np.ndarray) -> np.ndarray:
    """Per-firm, per-leaf truth values (uint8 [n_firms, n_leaves])."""
    if len(leaves) <= MAX_TRACKED_LEAVES:
        _, fmask, umask = explain_program(ev.program, ev.firms, p, idx)
        pairs, inverse = np.unique(np.stack([fmask, umask], axis=1), axis=0, return_inverse=True)
        rows = np.array(
            [leaf_values(len(leaves), int(f), int(u)) for f, u in pairs], dtype=np.uint8
        ).reshape(len(pairs), len(leaves))
        return rows[inverse.reshape(-1)]
    # Very long trees: evaluate each leaf as a one-leaf policy.
    singles = [Policy(id=f"leaf{k}", conditions=leaf) for k, leaf in enumerate(leaves)]
    prog = compile_policies(singles, ev.firms, ev.as_of)
    out = np.empty((len(idx), len(leaves)), dtype=np.uint8)
    for k in range(len(leaves)):
        out[:, k], _, _ = explain_program(prog, ev.firms, k, idx)
    return out


def evaluate(
    profiles: pd.DataFrame,
    policies: Sequence[Policy],
    as_of: dt.date,
    size_standard: pd.DataFrame,
) -> Evaluation:
    """Derive, encode, compile and evaluate every policy for every firm at once."""
    firms = encode(derive(profiles, as_of, size_standard))
    program = compile_policies(list(policies), firms, as_of)
    status = evaluate_program(program, firms)
    return Evaluation(firms, list(policies), program, status, as_of, size_standard)


def format_amount(value: float) -> str:
    """Yuan as written in the CSV: integers without a decimal point, else 2 decimals."""
    return str(format_amounts(np.array([value], dtype=np.float64))[0])


def format_amounts(values: np.ndarray) -> np.ndarray:
    """Vectorised :func:`format_amount`: '' for unknown, '500000' for whole yuan, else '.2f'."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, "", dtype=object)
    known = np.isfinite(v)
    if not known.any():
        return out
    r = np.round(v[known])
    whole = np.abs(v[known] - r) < 0.005
    text = np.where(whole, r.astype(np.int64).astype(str),
                    np.char.mod("%.2f", v[known]).astype(str))
    out[known] = text.astype(object)
    return out


def eligibility_table(
    ev: Evaluation,
    statuses: Sequence[str] | None = None,
    on_policy: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """The DATA.md §5 table, sorted by uscc then policy_id.

    ``statuses`` keeps only rows with those statuses (e.g. eligible and undetermined for a
    免申即享 list); amounts are given for eligible and undetermined rows, where a firm may
    actually receive something.
    """
    keep = set(statuses) if statuses else None
    frames = []
    for p, policy in enumerate(ev.policies):
        if on_policy is not None:
            on_policy(1)
        row = ev.status[p]
        names = np.array([STATUS_NAMES[k] for k in range(3)], dtype=object)[row]
        sel = np.arange(ev.firms.n) if keep is None else np.flatnonzero(np.isin(names, list(keep)))
        if len(sel) == 0:
            continue
        amounts = ev.amounts(p)[sel]
        amounts = np.where(row[sel] == 0, np.nan, amounts)
        unmet = np.full(len(sel), "", dtype=object)
        unknown = np.full(len(sel), "", dtype=object)
        need = np.flatnonzero(row[sel] != TRUE)
        if len(need):
            u, k = ev.reasons(p, sel[need])
            unmet[need] = u
            unknown[need] = k
        frames.append(
            pd.DataFrame(
                {
                    Columns.USCC: ev.firms.uscc[sel],
                    Columns.POLICY_ID: policy.id,
                    Columns.STATUS: names[sel],
                    Columns.AMOUNT: format_amounts(amounts),
                    Columns.UNMET: unmet,
                    Columns.UNKNOWN: unknown,
                    Columns.SCORE: "",
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in Columns.ALL})
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values([Columns.USCC, Columns.POLICY_ID], kind="stable").reset_index(
        drop=True
    )
