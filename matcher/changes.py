"""What changed for whom: the pure diff of verdicts behind push notifications.

"The policy finds the firm" only works if a firm hears about a policy once, when its
verdict changes, and not every time a batch is rerun. So the unit of news is a *change*
of verdict per (firm, policy), computed here from two verdict tables in the DATA.md §5
shape (``uscc, policy_id, status, amount, unmet, unknown``): the last one the firm was
told about and the one computed now. Nothing here knows about databases or channels;
``push`` stores the tables, versions them and delivers the events.

The second job is the fast path for a newly published policy: evaluate that one policy
over an already encoded firm table, without re-running every other policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import get_num_threads, set_num_threads

from matcher import coded
from matcher.coded import MatchCodes
from matcher.compile import MAX_TRACKED_LEAVES, compile_policies
from matcher.conditions import AllOf, Condition, Criterion, Not
from matcher.eligibility import Columns, Evaluation, leaf_matrix
from matcher.encode import FirmColumns
from matcher.explain import blamed_leaves, describe, join_unique, leaf_values, node_value
from matcher.kernel import evaluate_program, explain_patterns
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.missing import mask_inputs, missing_fields, missing_mask
from matcher.policy import Policy

NEWLY_ELIGIBLE = "newly_eligible"
NEWLY_UNDETERMINED = "newly_undetermined"
NO_LONGER_ELIGIBLE = "no_longer_eligible"
DEADLINE_APPROACHING = "deadline_approaching"
EVENTS: tuple[str, ...] = (
    NEWLY_ELIGIBLE, NEWLY_UNDETERMINED, NO_LONGER_ELIGIBLE, DEADLINE_APPROACHING,
)

# Why a firm stopped being eligible: the policy was withdrawn, its window closed, or the
# verdict changed (a profile update, or new conditions in a revised policy).
CAUSE_WITHDRAWN = "withdrawn"
CAUSE_EXPIRED = "expired"
CAUSE_CHANGED = "changed"
CAUSES: tuple[str, ...] = ("", CAUSE_WITHDRAWN, CAUSE_EXPIRED, CAUSE_CHANGED)

# The ``unknown`` entry of a requirement no profile field expresses (DATA.md §3): the firm
# cannot fill it in, a reviewer decides it; it still counts as one open item.
UNMAPPED = "unmapped"

ABSENT = "absent"  # status of a pair missing from a verdict table

# Firm evaluations per extra kernel thread below which one thread is faster (see
# ``evaluate_policies``): ~4 ms of work at a few ns per firm and instruction.
PARALLEL_MIN_FIRMS = 500_000


class EventColumns:
    """Column names of the event table returned by :func:`newly_matched`."""

    USCC = "uscc"
    POLICY_ID = "policy_id"
    EVENT = "event"
    STATUS = "status"  # the current verdict ("ineligible" when the pair is gone)
    PREVIOUS_STATUS = "previous_status"  # "absent" when the pair was not in ``previous``
    AMOUNT = "amount"
    UNMET = "unmet"
    UNKNOWN = "unknown"  # the fields to ask for, `` | ``-joined as in DATA.md §5
    CAUSE = "cause"  # for no_longer_eligible: withdrawn / expired / changed, else ""
    DAYS_LEFT = "days_left"  # days until valid_until on as_of, NA when open-ended
    ALL = (USCC, POLICY_ID, EVENT, STATUS, PREVIOUS_STATUS, AMOUNT, UNMET, UNKNOWN, CAUSE,
           DAYS_LEFT)


def missing_items(unknown: object) -> list[str]:
    """The open items of an ``unknown`` cell (`` | ``-joined field names), in order."""
    if unknown is None or unknown is pd.NA or (isinstance(unknown, float) and unknown != unknown):
        return []
    return [s for s in (part.strip() for part in str(unknown).split("|")) if s]


def open_items(unknown: pd.Series | np.ndarray | pd.Categorical) -> np.ndarray:
    """Open items per row of an ``unknown`` column (a categorical counts per category):
    what ``k_missing`` is compared with."""
    if isinstance(unknown, pd.Categorical):
        counts = np.array([len(missing_items(u)) for u in unknown.categories] + [0],
                          dtype=np.int64)
        return counts[unknown.codes]
    # Count per distinct string: tables repeat a handful of patterns a million times.
    values = pd.Series(unknown, dtype=object) if isinstance(unknown, np.ndarray) else unknown
    codes, uniques = pd.factorize(values.astype(object).fillna(""), sort=False)
    counts = np.array([len(missing_items(u)) for u in uniques], dtype=np.int64)
    return counts[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _asks(status: np.ndarray, n_missing: np.ndarray, k_missing: int) -> np.ndarray:
    """Undetermined (a status code) with between 1 and ``k_missing`` open items: worth
    asking for them."""
    return (status == coded.UNDETERMINED) & (n_missing >= 1) & (n_missing <= k_missing)


@dataclass(frozen=True)
class PairJoin:
    """Two verdict tables lined up per (uscc, policy_id) pair, in that sort order.

    ``left[i]`` / ``right[i]`` index the pair's row in each table, -1 where it is absent.
    Pairs are keyed by integer codes of both strings (factorised with ``sort=True``), so
    sorting the keys sorts the pairs by uscc then policy_id without comparing strings.
    """

    left: np.ndarray
    right: np.ndarray
    uscc: np.ndarray
    policy_id: np.ndarray


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)``, but sorting only the distinct values, as
    fixed-width unicode (C comparisons) — 5–10× faster for a million USCCs."""
    codes, uniq = pd.factorize(values, sort=False)
    uniq = np.asarray(uniq, dtype=object)
    if len(uniq) < 2:
        return codes, uniq
    try:
        order = np.argsort(uniq.astype("U"), kind="stable")  # code-point order, as str <
    except (TypeError, ValueError):  # not all text: Python's own ordering
        order = np.argsort(uniq, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1), uniq[order]


def _union(lk: np.ndarray, rk: np.ndarray, space: int) -> np.ndarray:
    """Sorted distinct keys of both sides; a bitmap when the key space is small."""
    if space <= (1 << 26):
        seen = np.zeros(space, dtype=bool)
        seen[lk] = True
        seen[rk] = True
        return np.flatnonzero(seen)
    return np.union1d(lk, rk)


def join_pairs(left_uscc: np.ndarray, left_policy: np.ndarray, right_uscc: np.ndarray,
               right_policy: np.ndarray, what: str = "verdict table",
               sort: bool = True, checked: bool = True) -> PairJoin:
    """Outer join of two tables on (uscc, policy_id); a pair twice in one table is an error.

    With ``sort=False`` the pairs come in an unspecified (but deterministic) order and no
    string is compared: a million pairs join in hashing time — or in no time when one
    side is empty and ``checked=False`` (the caller vouches that its pairs are distinct:
    a policy published to a million firms has no stored pairs to join).
    """
    n_left = len(left_uscc)
    if not sort and not checked and (n_left == 0 or len(right_uscc) == 0):
        none = np.full(max(n_left, len(right_uscc)), -1, dtype=np.int64)
        every = np.arange(len(none), dtype=np.int64)
        if n_left == 0:
            return PairJoin(none, every, np.asarray(right_uscc, dtype=object),
                            np.asarray(right_policy))
        return PairJoin(every, none, np.asarray(left_uscc, dtype=object),
                        np.asarray(left_policy))
    if sort:
        u_codes, u_uniq = sorted_codes(np.concatenate([left_uscc, right_uscc]).astype(object))
        p_codes, p_uniq = sorted_codes(np.concatenate([left_policy, right_policy])
                                       .astype(object))
    else:
        u_codes, u_uniq = pd.factorize(np.concatenate([left_uscc, right_uscc]).astype(object))
        p_codes, p_uniq = pd.factorize(np.concatenate([left_policy, right_policy])
                                       .astype(object))
    n_p = max(len(p_uniq), 1)
    keys = u_codes.astype(np.int64) * n_p + p_codes
    lk, rk = keys[:n_left], keys[n_left:]
    space = max(len(u_uniq), 1) * n_p
    dense = space <= (1 << 26)
    orders: list[np.ndarray | None] = []
    for side, k, us, ps in (("previous", lk, left_uscc, left_policy),
                            ("current", rk, right_uscc, right_policy)):
        if dense:  # duplicates by counting, no sort
            counts = np.bincount(k, minlength=space) if len(k) else np.zeros(0, np.int64)
            twice = np.flatnonzero(counts[k] > 1) if len(k) else np.zeros(0, np.int64)
            dup_at = int(twice[0]) if len(twice) else None
            orders.append(None)
        else:
            order = np.argsort(k, kind="stable")
            dup = np.flatnonzero(np.diff(k[order]) == 0)
            dup_at = int(order[dup[0]]) if len(dup) else None
            orders.append(order)
        if dup_at is not None:
            raise ValueError(f"{side} {what} has more than one row for uscc {us[dup_at]}, "
                             f"policy_id {ps[dup_at]}")
    union = _union(lk, rk, space)
    out = []
    if dense:
        slot = np.full(space, -1, dtype=np.int64)
        slot[union] = np.arange(len(union))
    for k, ordering in zip((lk, rk), orders, strict=True):
        pos = np.full(len(union), -1, dtype=np.int64)
        if len(k):
            if dense:
                pos[slot[k]] = np.arange(len(k))
            else:
                assert ordering is not None  # sorted when not dense
                pos[np.searchsorted(union, k[ordering])] = ordering
        out.append(pos)
    uscc = np.asarray(u_uniq, dtype=object)[union // n_p] if len(union) else np.empty(0, object)
    pid = np.asarray(p_uniq, dtype=object)[union % n_p] if len(union) else np.empty(0, object)
    return PairJoin(out[0], out[1], uscc, pid)


def take(values: np.ndarray, idx: np.ndarray, fill: object) -> np.ndarray:
    """``values[idx]`` with ``fill`` where ``idx`` is -1 (an absent row)."""
    out = np.full(len(idx), fill, dtype=object)
    hit = idx >= 0
    out[hit] = values[idx[hit]]
    return out


def column_values(table: pd.DataFrame, name: str, fill: object = "") -> np.ndarray:
    """A column as an object array with ``fill`` for missing values (or the whole column)."""
    if name not in table.columns:
        return np.full(len(table), fill, dtype=object)
    col = table[name].astype(object)
    return col.where(col.notna(), fill).to_numpy(dtype=object)


def _days_left(policy_ids: np.ndarray, valid_until: Mapping[str, dt.date | None] | None,
               as_of: dt.date | None) -> np.ndarray:
    """Days from ``as_of`` to each pair's ``valid_until`` (float, NaN when open-ended)."""
    out = np.full(len(policy_ids), np.nan)
    if valid_until is None or as_of is None or not len(policy_ids):
        return out
    codes, uniq = pd.factorize(pd.Series(policy_ids, dtype=object))
    days = np.array([np.nan if valid_until.get(p) is None
                     else float((valid_until[p] - as_of).days)  # type: ignore[operator]
                     for p in uniq])
    return days[codes]


def newly_matched(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    k_missing: int = 2,
    deadline_days: int | None = 14,
    as_of: dt.date | None = None,
    valid_until: Mapping[str, dt.date | None] | None = None,
    withdrawn: Collection[str] = (),
) -> pd.DataFrame:
    """Events worth telling a firm, from the previous and the current verdict per pair.

    Parameters
    ----------
    previous, current : pandas.DataFrame
        Verdict tables with at least ``uscc, policy_id, status`` and, where present,
        ``amount, unmet, unknown`` (DATA.md §5). Both must cover the same scope of
        (firm, policy) pairs: a pair in ``previous`` but not in ``current`` is read as
        *ineligible now* (a withdrawn policy, or a sparse table that keeps only
        eligible and undetermined rows). A pair missing from ``previous`` was never
        matched. ``previous`` may carry an ``as_of`` column (the date its verdict was
        computed), used to fire a deadline reminder only when the window was entered
        after the firm last heard about the policy.
    k_missing : int
        An undetermined verdict is news only if at most this many items are unknown:
        asking a firm for two fields is useful, for twelve it is noise.
    deadline_days : int or None
        Remind a matched firm this many days before the policy's ``valid_until``
        (申报截止); None disables reminders.
    as_of : datetime.date or None
        The evaluation date of ``current``; needed for deadlines and for telling an
        expired policy from a changed verdict.
    valid_until : mapping policy_id -> date, optional
        The policies' last valid day.
    withdrawn : collection of str
        Policies withdrawn since ``previous``: firms that were matched or asked for
        fields are told it is off.

    Returns
    -------
    pandas.DataFrame
        One row per event, columns :class:`EventColumns`, sorted by uscc, policy_id,
        event. Events: ``newly_eligible`` (eligible now, not before);
        ``newly_undetermined`` (undetermined with 1..k open items now, not before —
        the row's ``unknown`` lists what to ask for); ``no_longer_eligible`` (eligible
        before and not now, or asked before and the policy is withdrawn);
        ``deadline_approaching`` (matched now, ``valid_until`` within
        ``deadline_days``, and no other event for the pair in this diff).
    """
    if k_missing < 0:
        raise ValueError(f"k_missing must be ≥ 0, got {k_missing}")
    if deadline_days is not None and deadline_days < 0:
        raise ValueError(f"deadline_days must be ≥ 0, got {deadline_days}")
    for name, t in (("previous", previous), ("current", current)):
        missing = [c for c in (Columns.USCC, Columns.POLICY_ID, Columns.STATUS)
                   if c not in t.columns]
        if missing:
            raise ValueError(f"the {name} verdict table needs columns uscc, policy_id, status; "
                             f"missing {missing}")
    j = join_pairs(column_values(previous, Columns.USCC),
                   column_values(previous, Columns.POLICY_ID),
                   column_values(current, Columns.USCC),
                   column_values(current, Columns.POLICY_ID))
    status = take(column_values(current, Columns.STATUS), j.right, "ineligible")
    before = take(column_values(previous, Columns.STATUS), j.left, ABSENT)
    unknown = take(column_values(current, Columns.UNKNOWN), j.right, "")
    unknown_before = take(column_values(previous, Columns.UNKNOWN), j.left, "")
    days_left = _days_left(j.policy_id, valid_until, as_of)
    remind = deadline_days is not None and as_of is not None and valid_until is not None
    told_days = None
    if remind and valid_until is not None and "as_of" in previous.columns:
        told_at = take(column_values(previous, "as_of", None), j.left, None)
        told = pd.to_datetime(pd.Series(told_at, dtype=object), errors="coerce")
        until = pd.to_datetime(pd.Series(j.policy_id, dtype=object).map(
            {p: d for p, d in valid_until.items() if d is not None}), errors="coerce")
        told_days = (until - told).dt.days.to_numpy(dtype=float, na_value=np.nan)
    found = pair_events(
        _lenient_codes(status), _lenient_codes(before), open_items(unknown),
        open_items(unknown_before),
        np.isin(j.policy_id, list(withdrawn)) if withdrawn else np.zeros(len(status), bool),
        days_left, told_days, k_missing, deadline_days if remind else None)
    rows, kinds = found.rows, found.kind
    days = pd.array(np.where(np.isnan(days_left[rows]), 0, days_left[rows]).astype(np.int64),
                    dtype="Int64")
    days[np.isnan(days_left[rows])] = pd.NA
    return pd.DataFrame({
        EventColumns.USCC: j.uscc[rows],
        EventColumns.POLICY_ID: j.policy_id[rows],
        EventColumns.EVENT: np.asarray(EVENTS, dtype=object)[kinds],
        EventColumns.STATUS: status[rows],
        EventColumns.PREVIOUS_STATUS: before[rows],
        EventColumns.AMOUNT: take(column_values(current, Columns.AMOUNT), j.right, "")[rows],
        EventColumns.UNMET: take(column_values(current, Columns.UNMET), j.right, "")[rows],
        EventColumns.UNKNOWN: unknown[rows],
        EventColumns.CAUSE: np.asarray(CAUSES, dtype=object)[found.cause],
        EventColumns.DAYS_LEFT: days,
    })


def _lenient_codes(status: np.ndarray) -> np.ndarray:
    """Status names as :data:`matcher.coded.STATUSES` codes; any other text counts as
    ineligible (only "eligible" and "undetermined" mean anything to the diff)."""
    codes, uniq = pd.factorize(pd.Series(status, dtype=object).fillna(ABSENT), sort=False)
    lookup = np.array([coded.STATUSES.index(u) if u in coded.STATUSES else coded.INELIGIBLE
                       for u in uniq] + [coded.INELIGIBLE], dtype=np.int8)
    return lookup[codes]


@dataclass(frozen=True)
class PairEvents:
    """The news in a diff: pair positions with an event (ascending), the event (an index
    into :data:`EVENTS`) and, for ``no_longer_eligible``, its cause (index into
    :data:`CAUSES`; 0, "", for every other event)."""

    rows: np.ndarray
    kind: np.ndarray
    cause: np.ndarray


def pair_events(now: np.ndarray, before: np.ndarray, n_now: np.ndarray, n_before: np.ndarray,
                withdrawn: np.ndarray, days_left: np.ndarray, told_days: np.ndarray | None,
                k_missing: int, deadline_days: int | None) -> PairEvents:
    """The event rules of :func:`newly_matched` on aligned pairs, all integer work.

    ``now``/``before`` are status codes (``matcher.coded.STATUSES``; ``before`` is
    ``absent`` for a new pair), ``n_now``/``n_before`` the open items of each side,
    ``withdrawn`` whether the pair's policy was withdrawn, ``days_left`` the days to its
    ``valid_until`` (NaN: open-ended), ``told_days`` the days between the firm's last
    message and ``valid_until`` (NaN or None: unknown). ``deadline_days`` None: no
    reminders.
    """
    now_eligible = now == coded.ELIGIBLE
    was_eligible = before == coded.ELIGIBLE
    now_asks = _asks(now, n_now, k_missing)
    was_asked = _asks(before, n_before, k_missing)
    with np.errstate(invalid="ignore"):
        expired = days_left < 0
    newly_eligible = now_eligible & ~was_eligible
    newly_asks = now_asks & ~was_asked
    lost = (was_eligible & ~now_eligible & ~now_asks) | (was_asked & withdrawn & ~now_asks)
    kind = np.full(len(now), -1, dtype=np.int8)
    kind[newly_eligible] = 0
    kind[newly_asks] = 1
    kind[lost] = 2
    if deadline_days is not None:
        with np.errstate(invalid="ignore"):
            remind = (days_left >= 0) & (days_left <= deadline_days)
            remind &= (now_eligible | now_asks) & (kind < 0)
            if told_days is not None:
                # Told about it already inside the window: the earlier message had the date.
                remind &= ~(told_days <= deadline_days)
        kind[remind] = 3
    rows = np.flatnonzero(kind >= 0)
    cause = np.where(withdrawn[rows], 1, np.where(expired[rows], 2, 3)).astype(np.int8)
    cause[kind[rows] != 2] = 0
    return PairEvents(rows, kind[rows], cause)


# --- one policy over all firms ---------------------------------------------------------

def evaluate_policy(firms: FirmColumns, policy: Policy, as_of: dt.date,
                    size_standard: pd.DataFrame | None = None) -> Evaluation:
    """Verdicts of one policy for every firm of an already encoded table.

    What a newly published policy needs: the firm table was encoded once (and can stay
    warm), so the cost is compiling one tree and one kernel pass over the firms — over
    only the slice of the table in the policy's region when its root says so.
    """
    return evaluate_policies(firms, [policy], as_of, size_standard)


def evaluate_policies(firms: FirmColumns, policies: Sequence[Policy], as_of: dt.date,
                      size_standard: pd.DataFrame | None = None) -> Evaluation:
    """Verdicts of ``policies`` over an already encoded firm table (see ``evaluate``).

    The kernel runs firm blocks in parallel threads. For a few policies over a small
    slice of the table (one city's firms), waking the other threads costs more than the
    work — milliseconds on a busy machine against microseconds of evaluation — so the
    slice is run on this thread unless it holds at least ``PARALLEL_MIN_FIRMS`` firm
    evaluations per extra thread. With ``size_standard`` (the SME table the firms were
    derived with), an unknown ``size_class`` asks only for the metrics the firm's
    industry group uses.
    """
    program = compile_policies(list(policies), firms, as_of)
    work = int((program.ranges[:, 1] - program.ranges[:, 0]).sum()) if len(program.ranges) else 0
    threads = get_num_threads()
    wanted = max(1, min(threads, work // PARALLEL_MIN_FIRMS))
    if wanted == threads:
        status = evaluate_program(program, firms)
    else:
        set_num_threads(wanted)
        try:
            status = evaluate_program(program, firms)
        finally:
            set_num_threads(threads)
    return Evaluation(firms, list(policies), program, status, as_of, size_standard)


# --- why a firm matched ----------------------------------------------------------------

class MatchColumns:
    """Columns of :func:`matched_table`: DATA.md §5 plus what a message needs to say why."""

    USCC = Columns.USCC
    POLICY_ID = Columns.POLICY_ID
    STATUS = Columns.STATUS
    AMOUNT = Columns.AMOUNT  # float yuan, NaN when not computable
    UNMET = Columns.UNMET
    UNKNOWN = Columns.UNKNOWN  # fields to fill in (``unmapped`` for reviewer items)
    MET = "met"  # source texts of the conditions the firm meets, `` | ``-joined
    REVIEW = "review"  # source texts of open requirements only a reviewer can decide
    ALL = (USCC, POLICY_ID, STATUS, AMOUNT, UNMET, UNKNOWN, MET, REVIEW)


def _supporting(node: Condition, target: int, values: dict[int, int], out: list[Criterion]) -> None:
    """Leaves whose value makes ``node`` evaluate to ``target`` (through ``not`` flips)."""
    if isinstance(node, Criterion):
        if values[id(node)] == target:
            out.append(node)
        return
    if isinstance(node, Not):
        _supporting(node.child, TRUE - target, values, out)
        return
    for child in node.children:
        if node_value(child, values) == target:
            _supporting(child, target, values, out)


def met_leaves(root: Condition | None, leaves: Sequence[Criterion],
               values: Sequence[int]) -> list[Criterion]:
    """The conditions a firm meets: leaves that make a true subtree true.

    Under an undetermined root, the true conjuncts of an ``all`` still count as met (the
    firm is told what it already satisfies, then what is missing); an alternative of an
    ``any`` that failed is not "met", and a leaf under ``not`` is met when it is false.
    """
    if root is None:
        return []
    by_id = {id(leaf): v for leaf, v in zip(leaves, values, strict=True)}
    out: list[Criterion] = []

    def walk(node: Condition) -> None:
        verdict = node_value(node, by_id)
        if verdict == TRUE:
            _supporting(node, TRUE, by_id, out)
        elif verdict == UNKNOWN and isinstance(node, AllOf):
            for child in node.children:
                walk(child)

    walk(root)
    return out


def _why(policy: Policy, leaves: list[Criterion], values: Sequence[int]) -> tuple[str, str, str]:
    """(unknown fields, met sources, reviewer items) for one pattern of leaf values."""
    root = policy.conditions
    if root is None:
        return "", "", ""
    _, unknown = blamed_leaves(root, leaves, values)
    met = met_leaves(root, leaves, values)
    return (
        join_unique([leaf.field for leaf in unknown]),
        join_unique([describe(leaf) for leaf in met]),
        join_unique([describe(leaf) for leaf in unknown if leaf.field == UNMAPPED]),
    )


def _patterns(ev: Evaluation, p: int, idx: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Per firm an index into distinct leaf-value patterns, and the patterns themselves."""
    leaves = ev.program.leaves[p]
    if len(leaves) <= MAX_TRACKED_LEAVES:
        fmasks, umasks, inverse = explain_patterns(ev.program, ev.firms, p, idx)
        rows = [leaf_values(len(leaves), int(f), int(u))
                for f, u in zip(fmasks, umasks, strict=True)]
        return inverse, rows
    values = leaf_matrix(ev, p, leaves, idx)
    keys, inverse = np.unique(values, axis=0, return_inverse=True)
    return inverse.reshape(-1), [list(map(int, row)) for row in keys]


def _missing_inputs(ev: Evaluation, p: int, idx: np.ndarray, inverse: np.ndarray,
                    patterns: list[list[int]], texts: list[tuple[str, str, str]]
                    ) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Unknown derived attributes as the profile fields each firm must fill in.

    As ``eligibility_table`` does (DATA.md §5, ``matcher.missing``): a firm cannot fill in
    ``age_years``, it can fill in ``established_on``, and which inputs are missing differs
    between firms of one pattern — so texts are worded per (pattern, missing inputs).
    """
    policy = ev.policies[p]
    if policy.conditions is None:
        return inverse, texts
    leaves = ev.program.leaves[p]
    fields = [[leaf.field for leaf in blamed_leaves(policy.conditions, leaves, v)[1]]
              for v in patterns]
    inputs = mask_inputs([f for fs in fields for f in fs])
    if not inputs:
        return inverse, texts
    mask = missing_mask(ev.firms.frame, inputs, getattr(ev, "size_standard", None), idx)
    keyed, combos = pd.factorize(np.asarray(inverse, dtype=np.int64) << 32 | mask, sort=False)
    combos = np.asarray(combos, dtype=np.int64)
    out = [(join_unique(missing_fields(fields[k], inputs, int(m))), texts[k][1], texts[k][2])
           for k, m in zip(combos >> 32, combos & 0xFFFFFFFF, strict=True)]
    return np.asarray(keyed, dtype=np.intp), out


def matched_codes(ev: Evaluation, k_missing: int | None = None) -> MatchCodes:
    """Eligible and undetermined verdicts with the reasons a message gives, as codes.

    Like ``eligibility_table(ev, statuses=("eligible", "undetermined"))`` but built for
    notifications: ``amount`` stays a float, and each row says which conditions the
    firm meets (``met``) and which requirements only a reviewer can settle
    (``review``). Reasons are computed once per distinct pattern of leaf values and kept
    as categorical codes, so a policy matched by 300,000 firms costs a few dozen
    explanations and no string per row. With ``k_missing``, undetermined rows with more
    open items than that are dropped (they are not news).

    Rows come policy by policy in the firm table's (region) order — deterministic for
    the same inputs; sorting a million USCC strings is left to callers that need it.
    """
    parts: list[MatchCodes] = []
    for p, policy in enumerate(ev.policies):
        row = ev.status[p]
        idx = np.flatnonzero(row != FALSE)
        if len(idx) == 0:
            continue
        status = row[idx]
        if policy.conditions is None:
            inverse = np.zeros(len(idx), dtype=np.intp)
            texts = [("", "", "")]
        else:
            inverse, patterns = _patterns(ev, p, idx)
            texts = [_why(policy, ev.program.leaves[p], values) for values in patterns]
            inverse, texts = _missing_inputs(ev, p, idx, inverse, patterns, texts)
            if k_missing is not None:
                n_items = np.array([len(missing_items(t[0])) for t in texts], dtype=np.int64)
                keep = (status == TRUE) | (n_items[inverse] <= k_missing)
                idx, status, inverse = idx[keep], status[keep], inverse[keep]
        eligible = status == TRUE
        # An eligible firm has nothing to fill in and nothing for a reviewer: one more
        # text, "", that its rows point to.
        blank = np.where(eligible, len(texts), inverse)
        amount = np.asarray(ev.amounts(p)[idx] if len(idx) else np.zeros(0), dtype=np.float64)
        parts.append(MatchCodes(
            uscc=ev.firms.uscc[idx],
            policy_id=pd.Categorical.from_codes(np.zeros(len(idx), dtype=np.int32),
                                                pd.Index([policy.id], dtype=object)),
            status=np.where(eligible, coded.ELIGIBLE, coded.UNDETERMINED).astype(np.int8),
            amount=np.where(np.isfinite(amount), amount, np.nan),
            unknown=coded.from_codes(blank, [t[0] for t in texts] + [""]),
            met=coded.from_codes(inverse, [t[1] for t in texts]),
            review=coded.from_codes(blank, [t[2] for t in texts] + [""]),
        ))
    return coded.concat(parts)


def matched_table(ev: Evaluation, k_missing: int | None = None) -> pd.DataFrame:
    """:func:`matched_codes` spelled out (``MatchColumns``): for tests and analysts."""
    return matched_codes(ev, k_missing).to_frame()
