"""A policy catalogue compiled once and evaluated against any batch of firms.

``matcher.eligibility.evaluate`` compiles the condition trees for the firms at hand,
because the kernel's lookup tables are indexed by the firms' own code vocabulary. That
costs tens of milliseconds for 2,000 policies — fine for a batch, too much for one
firm's recommendations on request. This module fixes the vocabulary at compile time
instead, from the policies alone:

* a GB/T 2260 / GB/T 4754 code can only be told apart by the policies through the
  prefixes (and exact values) they mention. A code is encoded as its *longest
  mentioned prefix* ``p`` — the entry ``p`` itself when the code equals it, else
  ``p + "~"`` (a string that starts with exactly the same mentioned prefixes and equals
  none of them), or ``"~"`` when no mentioned value is a prefix of it. Every prefix
  ``in``/``not_in`` and every ``==``/``!=`` leaf gets the same truth for the entry as
  for the code.
* ordered categories (size class, tax credit rating) and booleans have fixed
  vocabularies already.

What still depends on the firms — leaves on text, dates and tags, and the region slices
that let a region-restricted policy skip other regions' firms — is recomputed per batch,
which is cheap. The result is a standard :class:`matcher.eligibility.Evaluation`, so
explanations and amounts work on it unchanged. Soft ``preferences`` are compiled into
the same program, after the policies, so one kernel pass also scores them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from matcher.compile import Program, compile_policies, merge_ranges, pre_truth, region_prefixes
from matcher.conditions import Criterion
from matcher.derive import derive
from matcher.eligibility import Evaluation
from matcher.encode import CODED_FIELDS, NUMERIC_FIELDS, FirmColumns, encode
from matcher.fields import FIELDS, SIZE_CLASSES, TAX_CREDIT_RATINGS
from matcher.kernel import BLOCK, evaluate_program
from matcher.logic import TRUE
from matcher.policy import Policy
from matcher.recommend import preference_texts
from matcher.why import attainable

PREFIX_FIELDS: tuple[str, ...] = ("region_code", "industry_code")
SMALL_BATCH = 256  # firms; at most this many are evaluated on one thread
_OTHER = "~"  # sorts after digits and capitals; no code contains it


def _mentioned_values(policies: Sequence[Policy], field: str) -> list[str]:
    seen: set[str] = set()
    for p in policies:
        if p.conditions is None:
            continue
        for leaf in p.conditions.leaves():
            if leaf.field == field:
                values = leaf.value if isinstance(leaf.value, list) else [leaf.value]
                seen.update(str(v) for v in values)
    return sorted(seen)


def _prefix_vocab(mentioned: list[str]) -> list[object]:
    return [_OTHER, *mentioned, *(m + _OTHER for m in mentioned)]


def _pre_leaves(policies: Sequence[Policy]) -> list[Criterion]:
    """Leaves evaluated outside the kernel, in the order the compiler numbers them."""
    out: list[Criterion] = []
    seen: set[tuple[object, ...]] = set()
    for p in policies:
        if p.conditions is None:
            continue
        for leaf in p.conditions.leaves():
            kind = FIELDS[leaf.field].kind
            if kind in ("unmapped", "number") or leaf.field in CODED_FIELDS:
                continue
            if leaf.field == "qualifications":
                continue
            key = (leaf.field, leaf.op, repr(leaf.value))
            if key not in seen:
                seen.add(key)
                out.append(leaf)
    return out


def _region_key(entry: Policy) -> tuple[str, ...] | None:
    prefixes = region_prefixes(entry.conditions)
    return None if prefixes is None else tuple(prefixes)


@dataclass
class CompiledCatalogue:
    """Policies (and their preferences) compiled once, for evaluation on any firms."""

    policies: list[Policy]
    as_of: dt.date
    template: Program  # firm-independent part; ``pre`` and ranges are filled per batch
    vocab: dict[str, list[object]]
    prefix_index: dict[str, dict[str, int]]  # field -> mentioned value -> vocab index
    pre_leaves: list[Criterion]
    entries: list[Policy]  # policies, then one pseudo-policy per preference
    preference_owner: np.ndarray  # int64 [n_preferences]: index of the owning policy
    valid: np.ndarray  # bool [n_entries]: inside the validity window on ``as_of``
    regions: list[tuple[str, ...] | None]  # per entry: region prefixes it is limited to

    def __post_init__(self) -> None:
        self.reason_cache: dict[tuple[int, bytes], dict[str, list[str]]] = {}
        # Policies with a requirement a firm could grow into: the only near-miss candidates.
        self.near_miss_candidates = np.array([
            p.conditions is not None and p.valid_on(self.as_of)
            and any(attainable(leaf) for leaf in p.conditions.leaves())
            for p in self.policies
        ], dtype=bool)
        # What each met preference reads like in ``why``: fixed by the catalogue.
        self.preference_texts = preference_texts(self.policies)
        rows = [
            (i, b) for i, p in enumerate(self.policies) for b in p.benefits if b.computable
        ]
        policy = np.array([i for i, _ in rows], dtype=np.int64)
        owners, starts = np.unique(policy, return_index=True)
        self._benefits = {
            "policy": policy,
            "owners": owners,
            "starts": starts.astype(np.int64),
            "amount": np.array(
                [np.nan if b.amount is None else b.amount for _, b in rows], dtype=float),
            "rate": np.array([b.rate or 0.0 for _, b in rows], dtype=float),
            "base": np.array(
                [NUMERIC_FIELDS.index(b.base) if b.amount is None and b.base else 0
                 for _, b in rows], dtype=np.int64),
            "cap": np.array([np.inf if b.cap is None else b.cap for _, b in rows], dtype=float),
        }
        keys = sorted({k for k in self.regions if k is not None})
        key_id = {k: i + 1 for i, k in enumerate(keys)}
        self._entry_key = np.array(
            [0 if k is None else key_id[k] for k in self.regions], dtype=np.int64
        )
        flat = [p for k in keys for p in k]
        self._prefixes = np.array(flat, dtype=str)
        self._prefixes_end = np.array([p + "~" for p in flat], dtype=str)
        self._key_bounds = np.concatenate([[0], np.cumsum([len(k) for k in keys])]).astype(int)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["reason_cache"] = {}  # a cache, not part of the model
        return state

    @property
    def n_policies(self) -> int:
        return len(self.policies)

    @classmethod
    def build(cls, policies: Sequence[Policy], as_of: dt.date) -> CompiledCatalogue:
        policies = list(policies)
        entries = list(policies)
        owner: list[int] = []
        for i, p in enumerate(policies):
            for j, pref in enumerate(p.preferences):
                entries.append(dataclasses.replace(
                    p, id=f"{p.id}#preferences[{j}]", conditions=pref, preferences=()
                ))
                owner.append(i)
        vocab: dict[str, list[object]] = {
            "size_class": list(SIZE_CLASSES),
            "tax_credit_rating": list(TAX_CREDIT_RATINGS),
        }
        prefix_index: dict[str, dict[str, int]] = {}
        for field in PREFIX_FIELDS:
            mentioned = _mentioned_values(entries, field)
            vocab[field] = _prefix_vocab(mentioned)
            prefix_index[field] = {str(m): i for i, m in enumerate(vocab[field])}
        for field in CODED_FIELDS:
            if FIELDS[field].kind == "bool":
                vocab[field] = [False, True]
        empty = FirmColumns(
            uscc=np.empty(0, dtype=object), order=np.empty(0, dtype=np.int64),
            numeric=np.empty((len(NUMERIC_FIELDS), 0)),
            codes=np.empty((len(CODED_FIELDS), 0), dtype=np.int32), vocab=vocab,
            qualification_mask=np.empty(0, dtype=np.int64),
            region_sorted=np.empty(0, dtype=str), frame=pd.DataFrame(),
        )
        template = compile_policies(entries, empty, as_of)
        return cls(
            policies=policies, as_of=as_of, template=template, vocab=vocab,
            prefix_index=prefix_index, pre_leaves=_pre_leaves(entries), entries=entries,
            preference_owner=np.array(owner, dtype=np.int64),
            valid=np.array([e.valid_on(as_of) for e in entries], dtype=bool),
            regions=[_region_key(e) for e in entries],
        )

    # -- per batch ----------------------------------------------------------------------
    def _code_of(self, field: str, value: str) -> int:
        """1-based vocabulary index of one firm value (0 = not in the vocabulary)."""
        if field in PREFIX_FIELDS:
            index = self.prefix_index[field]
            hit = next((value[:k] for k in range(len(value), 0, -1) if value[:k] in index), None)
            if hit is None:
                return index[_OTHER] + 1
            return index[hit if hit == value else hit + _OTHER] + 1
        vocab = self.vocab[field]
        return vocab.index(value) + 1 if value in vocab else 0

    def _codes(self, firms: FirmColumns) -> np.ndarray:
        codes = firms.codes.copy()
        frame = firms.frame
        for row, field in enumerate(CODED_FIELDS):
            if FIELDS[field].kind == "bool":
                continue  # encode() already uses [False, True] → 1, 2
            if field not in frame.columns:
                codes[row] = 0
                continue
            own = firms.vocab.get(field)
            if own is not None:
                # encode() already factorised the column: code k is own[k - 1], 0 unknown.
                lut = np.array([0] + [self._code_of(field, str(u)) for u in own], dtype=np.int32)
                codes[row] = lut[firms.codes[row]]
                continue
            values = frame[field].astype("string").to_numpy(dtype=object, na_value=None)
            k, uniques = pd.factorize(values, use_na_sentinel=True)
            lut = np.array([self._code_of(field, str(u)) for u in uniques] + [0], dtype=np.int32)
            codes[row] = lut[k]
        return codes

    def _ranges(self, firms: FirmColumns) -> tuple[np.ndarray, np.ndarray]:
        """Firm slices per entry: all firms, or only its regions (and unknown regions).

        Vectorised over the distinct region lists: a single firm's request must not pay
        a Python loop over 2,000 policies.
        """
        n = firms.n
        regions = firms.region_sorted
        unknown_end = int(np.searchsorted(regions, "", side="right"))
        plo = np.searchsorted(regions, self._prefixes, side="left")
        phi = np.searchsorted(regions, self._prefixes_end, side="left")
        # Spans per distinct region list (key 0 = no restriction: every firm).
        bounds = self._key_bounds
        hit = phi > plo
        hits_per_key = (
            np.add.reduceat(hit.astype(np.int64), bounds[:-1]) if len(hit) else np.zeros(0)
        )
        base = np.array([[0, unknown_end]] if unknown_end else [], dtype=np.int64).reshape(-1, 2)

        def merged(k: int) -> np.ndarray:
            a, b = bounds[k], bounds[k + 1]
            found = [(0, unknown_end)] + [
                (int(plo[i]), int(phi[i])) for i in range(a, b) if hit[i]
            ]
            return np.array(merge_ranges(found), dtype=np.int64).reshape(-1, 2)

        spans = [np.array([[0, n]] if n else [], dtype=np.int64).reshape(-1, 2)]
        spans += [merged(k) if h else base for k, h in enumerate(hits_per_key)]
        counts = np.array([len(x) for x in spans], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        flat = np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int64)
        per_entry = np.where(self.valid, counts[self._entry_key], 0)
        offsets = np.concatenate([[0], np.cumsum(per_entry)]).astype(np.int64)
        within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], per_entry)
        rows = np.repeat(starts[self._entry_key], per_entry) + within
        return flat[rows].reshape(-1, 2).astype(np.int64), offsets

    def bind(self, firms: FirmColumns) -> tuple[FirmColumns, Program]:
        """Re-code ``firms`` into the catalogue's vocabulary and finish the program."""
        firms = dataclasses.replace(firms, codes=self._codes(firms), vocab=self.vocab)
        pre = (
            np.stack([pre_truth(leaf, firms.frame) for leaf in self.pre_leaves])
            if self.pre_leaves else np.zeros((0, firms.n), dtype=np.uint8)
        )
        ranges, offsets = self._ranges(firms)
        program = dataclasses.replace(
            self.template, pre=pre, ranges=ranges, range_offsets=offsets
        )
        return firms, program

    def evaluate(
        self, profiles: pd.DataFrame, size_standard: pd.DataFrame
    ) -> tuple[Evaluation, np.ndarray]:
        """(verdicts of every policy for every firm, preference truth per preference).

        Both arrays are in the evaluation's firm order (region-sorted, see
        ``Evaluation.firms.order``): ``status`` is uint8 (n_policies, n_firms),
        preferences uint8 (n_preferences, n_firms).
        """
        firms = encode(derive(profiles, self.as_of, size_standard))
        firms, program = self.bind(firms)
        # Small batches (one firm on request) use small blocks — the kernel allocates a
        # block-sized stack per policy — and one thread: waking a thread pool costs more
        # than the work, and collapses when the other core is busy.
        block = int(min(BLOCK, max(firms.n, 64)))
        if firms.n <= SMALL_BATCH:
            previous = numba.get_num_threads()
            numba.set_num_threads(1)  # thread-local in numba: other threads unaffected
            try:
                status = evaluate_program(program, firms, block=block)
            finally:
                numba.set_num_threads(previous)
        else:
            status = evaluate_program(program, firms, block=block)
        n = self.n_policies
        ev = Evaluation(firms, self.policies, program, status[:n], self.as_of)
        return ev, status[n:]

    def amounts(self, firms: FirmColumns) -> np.ndarray:
        """Estimated amount of every policy for every firm, (n_policies, n_firms), yuan.

        The same numbers as ``Evaluation.amounts(p)`` (``matcher.benefits``: the largest
        computable benefit, NaN when a rate's base is unknown or nothing is computable),
        for all policies in a few array operations instead of a loop over policies.
        """
        table = self._benefits
        n_pol, n = self.n_policies, firms.n
        out = np.full((n_pol, n), np.nan)
        if len(table["policy"]) == 0:
            return out
        values = np.empty((len(table["policy"]), n))
        fixed = ~np.isnan(table["amount"])
        values[fixed] = table["amount"][fixed, None]
        rated = np.flatnonzero(~fixed)
        if len(rated):
            base = firms.numeric[table["base"][rated]]  # NaN base stays NaN: unknown
            v = np.maximum(table["rate"][rated, None] * base, 0.0)
            values[rated] = np.minimum(v, table["cap"][rated, None])  # cap = inf if none
        starts = table["starts"]
        out[table["owners"]] = np.maximum.reduceat(values, starts, axis=0)
        return out

    def preference_fit(self, preference_status: np.ndarray) -> np.ndarray:
        """Share of each policy's preferences a firm meets, (n_policies, n_firms) in [0, 1].

        Unknown counts as not met: a preference raises the rank only on evidence.
        Policies without preferences get 0.
        """
        n_firms = preference_status.shape[1]
        out = np.zeros((self.n_policies, n_firms), dtype=np.float64)
        owner = self.preference_owner
        if len(owner) == 0:
            return out
        # Preferences are numbered policy by policy, so each owner's rows are contiguous.
        owners, starts, counts = np.unique(owner, return_index=True, return_counts=True)
        met = np.add.reduceat((preference_status == TRUE).astype(np.float64), starts, axis=0)
        out[owners] = met / counts[:, None]
        return out
