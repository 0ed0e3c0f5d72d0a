"""Benchmark: every policy for every firm, against OpenFisca, pandas and a per-firm loop.

Run from the repository root::

    .venv/bin/python bench/bench_eligibility.py                  # 1,000,000 firms x 500 policies
    .venv/bin/python bench/bench_eligibility.py --firms 100000 --policies 100

One run generates synthetic Hunan firms and policies (``bench/synthetic.py``) and times,
on the same data:

* policy-match: ``derive``, ``encode``, ``compile_policies`` and the numba kernel
  (``evaluate_program``) separately, then the whole ``matcher.eligibility.evaluate``;
  three values (eligible / undetermined / ineligible);
* the reasons (``Evaluation.reasons``) for the rows a 免申即享-style output writes
  (eligible and undetermined; eligible rows need none, so the undetermined ones are
  explained);
* OpenFisca (openfisca-core): one variable per firm field, one formula per policy in
  vectorised numpy — two-valued (an unknown value makes its leaf false), as OpenFisca
  has no "unknown";
* pandas: one DataFrame expression per policy over nullable dtypes, whose ``&``/``|``/``~``
  are Kleene's — so this baseline is three-valued like ours;
* a naive per-firm Python loop (three-valued, a plain tree walk per firm and policy) on a
  sample of firms, extrapolated to pairs per second.

Every baseline is checked against our verdicts: the three-valued ones must agree on every
pair; the two-valued one on every pair we decide (Kleene logic: a decided verdict holds
whatever the unknown leaves turn out to be, so any two-valued reading must agree there).
Pairs per second count all firm x policy pairs, as the baselines evaluate them all; ours
skips other regions' firms through the region index — that is the point of the index.

Figures go to ``bench/RESULTS.md`` (section ``eligibility``) by hand, with the command.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import operator
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import AS_OF, synthetic_firms, synthetic_policies  # noqa: E402
from matcher.compile import compile_policies  # noqa: E402
from matcher.conditions import AllOf, Condition, Criterion, Not  # noqa: E402
from matcher.derive import derive  # noqa: E402
from matcher.eligibility import evaluate  # noqa: E402
from matcher.encode import encode  # noqa: E402
from matcher.fields import FIELDS, QUALIFICATIONS  # noqa: E402
from matcher.kernel import evaluate_program  # noqa: E402
from matcher.logic import FALSE, TRUE, UNKNOWN  # noqa: E402
from matcher.policy import Policy  # noqa: E402
from profiles.reference import size_standard  # noqa: E402

MB = 2**20


# --- measuring ----------------------------------------------------------------------------

def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is None:
        import psutil

        return psutil.Process().memory_info().rss / MB
    return kb / 1024


def reset_peak() -> bool:
    """Reset the kernel's high-water mark of RSS (Linux ≥ 4.0), so peaks are per phase."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def trim_heap() -> None:
    """Hand freed heap back to the OS, so one phase's garbage does not count as the next's."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Phase:
    """Wall and CPU time of one phase, and the process's RSS before and at its peak."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    rss_before: float = 0.0
    peak: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def measure(name: str, fn: Callable[[], Any]) -> tuple[Phase, Any]:
    trim_heap()
    phase = Phase(name, rss_before=rss_mb())
    per_phase = reset_peak()
    c0, t0 = cpu_seconds(), time.perf_counter()
    result = fn()
    phase.wall = time.perf_counter() - t0
    phase.cpu = cpu_seconds() - c0
    phase.peak = peak_mb() if per_phase else float("nan")
    return phase, result


# --- baselines: trees as numpy / pandas expressions -----------------------------------------

SIZE_RANK = {v: i for i, v in enumerate(FIELDS["size_class"].order or ())}
RATING_RANK = {v: i for i, v in enumerate(FIELDS["tax_credit_rating"].order or ())}


def _industry_parts(codes: pd.Series) -> dict[str, np.ndarray]:
    """GB/T 4754 codes as integers (section letter, digits, digit count) for numpy tests."""
    s = codes.astype("string")
    known = s.notna().to_numpy()
    text = s.fillna("").to_numpy(dtype=object)
    section = np.array([ord(c[0]) if c else 0 for c in text], dtype=np.int64)
    ndigits = np.array([len(c) - 1 if c else -1 for c in text], dtype=np.int64)
    digits = np.array([int(c[1:].ljust(4, "0")) if len(c) > 1 else 0 for c in text])
    return {"industry_section": np.where(known, section, 0), "industry_digits": digits,
            "industry_ndigits": ndigits}


def openfisca_inputs(derived: pd.DataFrame) -> dict[str, np.ndarray]:
    """Firm variables as OpenFisca holds them: floats with NaN, integer codes, booleans.

    OpenFisca has no missing value, so unknown flags are False, unknown codes 0/-1,
    an unknown qualification list is empty: the two-valued reading.
    """
    out: dict[str, np.ndarray] = {}
    for name, spec in FIELDS.items():
        if spec.kind == "number":
            out[name] = derived[name].to_numpy(dtype=np.float64)
    region = derived["region_code"].astype("string")
    out["region_int"] = region.fillna("0").astype("int64").to_numpy()
    out.update(_industry_parts(derived["industry_code"]))
    out["size_rank"] = derived["size_class"].astype("string").map(SIZE_RANK).fillna(-1).to_numpy(
        dtype=np.int64)
    out["rating_rank"] = derived["tax_credit_rating"].astype("string").map(RATING_RANK).fillna(
        -1).to_numpy(dtype=np.int64)
    for name in ("listed", "serious_dishonesty", "major_accident_3y", "above_scale"):
        out[name] = derived[name].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out["qualification_mask"] = np.maximum(derived["qualification_mask"].to_numpy(np.int64), 0)
    return out


def _industry_match(get: Callable[[str], np.ndarray], prefix: str) -> np.ndarray:
    k = len(prefix) - 1
    hit = get("industry_section") == ord(prefix[0])
    if k:
        digits = get("industry_digits") // 10 ** (4 - k)
        hit = hit & (get("industry_ndigits") >= k) & (digits == int(prefix[1:]))
    return hit


def numpy_leaf(leaf: Criterion, get: Callable[[str], np.ndarray], n: int) -> np.ndarray:
    """Two-valued numpy truth of one leaf (unknown → whatever the comparison gives)."""
    kind, op, v = FIELDS[leaf.field].kind, leaf.op, leaf.value
    if kind == "unmapped":
        return np.zeros(n, dtype=bool)
    if kind == "number":
        x = get(leaf.field)
        if op in ("in", "not_in"):
            hit = np.isin(x, np.asarray(v, dtype=np.float64))
            return hit if op == "in" else ~hit
        return {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less,
                "==": np.equal, "!=": np.not_equal}[op](x, float(v))  # type: ignore[arg-type]
    if leaf.field == "region_code":
        region = get("region_int")
        prefixes = v if isinstance(v, list) else [v]
        hit = reduce(np.logical_or, [region // 10 ** (6 - len(p)) == int(p) for p in prefixes])
        return hit if op in ("in", "==") else ~hit
    if leaf.field == "industry_code":
        prefixes = v if isinstance(v, list) else [v]
        hit = reduce(np.logical_or, [_industry_match(get, p) for p in prefixes])
        if op in ("==", "!="):
            hit = hit & (get("industry_ndigits") == len(str(v)) - 1)
        return hit if op in ("in", "==") else ~hit
    if leaf.field in ("size_class", "tax_credit_rating"):
        rank_of = SIZE_RANK if leaf.field == "size_class" else RATING_RANK
        rank = get("size_rank" if leaf.field == "size_class" else "rating_rank")
        if op in ("in", "not_in"):
            hit = np.isin(rank, [rank_of[x] for x in v])  # type: ignore[union-attr]
            return hit if op == "in" else ~hit
        target = rank_of[str(v)]
        known = rank >= 0
        return known & {">=": rank >= target, ">": rank > target, "<=": rank <= target,
                        "<": rank < target, "==": rank == target, "!=": rank != target}[op]
    if kind == "bool":
        x = get(leaf.field)
        return (x == bool(v)) if op == "==" else (x != bool(v))
    if leaf.field == "qualifications":
        has = (get("qualification_mask") // 2 ** QUALIFICATIONS.index(str(v))) % 2 == 1
        return has if op == "has" else ~has
    raise NotImplementedError(f"baseline has no {leaf.field} leaves")


def numpy_tree(node: Condition, get: Callable[[str], np.ndarray], n: int) -> np.ndarray:
    if isinstance(node, Criterion):
        return numpy_leaf(node, get, n)
    if isinstance(node, Not):
        return ~numpy_tree(node.child, get, n)
    parts = [numpy_tree(c, get, n) for c in node.children]
    return reduce(np.logical_and if isinstance(node, AllOf) else np.logical_or, parts)


def build_openfisca(policies: list[Policy], inputs: dict[str, np.ndarray]) -> Any:
    """A TaxBenefitSystem with an entity ``firm``, its variables and one formula per policy."""
    from openfisca_core.entities import build_entity
    from openfisca_core.periods import DateUnit
    from openfisca_core.simulations import SimulationBuilder
    from openfisca_core.taxbenefitsystems import TaxBenefitSystem
    from openfisca_core.variables import Variable

    firm_entity = build_entity(key="firm", plural="firms", label="企业", is_person=True)
    tbs = TaxBenefitSystem([firm_entity])
    for name, values in inputs.items():
        value_type = {np.dtype(bool): bool, np.dtype(np.int64): int}.get(values.dtype, float)
        default = {bool: False, int: 0, float: float("nan")}[value_type]
        tbs.add_variable(type(name, (Variable,), {
            "value_type": value_type, "entity": firm_entity, "default_value": default,
            "definition_period": DateUnit.ETERNITY, "label": name,
        }))
    n = len(next(iter(inputs.values())))

    def formula_for(policy: Policy) -> Callable[[Any, Any, Any], np.ndarray]:
        valid, tree = policy.valid_on(AS_OF), policy.conditions

        def formula(firm: Any, period: Any, parameters: Any) -> np.ndarray:
            if not valid:
                return np.zeros(n, dtype=bool)
            if tree is None:
                return np.ones(n, dtype=bool)
            return numpy_tree(tree, lambda name: firm(name, period), n)

        return formula

    for i, policy in enumerate(policies):
        tbs.add_variable(type(f"policy_{i}", (Variable,), {
            "value_type": bool, "entity": firm_entity, "definition_period": DateUnit.YEAR,
            "label": policy.id, "formula": formula_for(policy),
        }))
    builder = SimulationBuilder()
    builder.create_entities(tbs)
    builder.declare_person_entity("firm", np.arange(n))
    sim = builder.build(tbs)
    for name, values in inputs.items():
        sim.set_input(name, "eternity", values)
    return sim


def pandas_frame(derived: pd.DataFrame) -> pd.DataFrame:
    """Firm columns in pandas' nullable dtypes, whose logic ops are Kleene's."""
    cols: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        if spec.kind == "number":
            cols[name] = pd.array(derived[name].to_numpy(dtype=np.float64), dtype="Float64")
    for name in ("region_code", "industry_code"):
        cols[name] = derived[name].astype("string").array
    cols["size_rank"] = derived["size_class"].astype("string").map(SIZE_RANK).astype("Int64").array
    cols["rating_rank"] = derived["tax_credit_rating"].astype("string").map(
        RATING_RANK).astype("Int64").array
    for name in ("listed", "serious_dishonesty", "major_accident_3y", "above_scale"):
        cols[name] = derived[name].astype("boolean").array
    mask = derived["qualification_mask"].to_numpy(np.int64)
    cols["qualification_mask"] = pd.array(np.where(mask < 0, None, mask), dtype="Int64")
    return pd.DataFrame(cols)


def pandas_leaf(leaf: Criterion, df: pd.DataFrame) -> pd.Series:
    kind, op, v = FIELDS[leaf.field].kind, leaf.op, leaf.value
    n = len(df)
    if kind == "unmapped":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    if kind == "number" or leaf.field in ("size_class", "tax_credit_rating"):
        if kind == "number":
            x, value = df[leaf.field], v
        else:
            rank_of = SIZE_RANK if leaf.field == "size_class" else RATING_RANK
            x = df["size_rank" if leaf.field == "size_class" else "rating_rank"]
            value = [rank_of[i] for i in v] if isinstance(v, list) else rank_of[str(v)]
        if op in ("in", "not_in"):
            hit = x.isin(value).astype("boolean").mask(x.isna())
            return hit if op == "in" else ~hit
        return {">=": x.__ge__, ">": x.__gt__, "<=": x.__le__, "<": x.__lt__, "==": x.__eq__,
                "!=": x.__ne__}[op](value)
    if kind == "prefix":
        prefixes = tuple(v) if isinstance(v, list) else (str(v),)
        x = df[leaf.field]
        hit = x.str.startswith(prefixes) if op in ("in", "not_in") else (x == str(v))
        return hit if op in ("in", "==") else ~hit
    if kind == "bool":
        x = df[leaf.field]
        return (x == bool(v)) if op == "==" else (x != bool(v))
    if leaf.field == "qualifications":
        has = (df["qualification_mask"] // 2 ** QUALIFICATIONS.index(str(v))) % 2 == 1
        return has if op == "has" else ~has
    raise NotImplementedError(f"baseline has no {leaf.field} leaves")


def pandas_tree(node: Condition, df: pd.DataFrame) -> pd.Series:
    if isinstance(node, Criterion):
        return pandas_leaf(node, df)
    if isinstance(node, Not):
        return ~pandas_tree(node.child, df)
    parts = [pandas_tree(c, df) for c in node.children]
    return reduce((lambda a, b: a & b) if isinstance(node, AllOf) else (lambda a, b: a | b), parts)


def pandas_status(policy: Policy, df: pd.DataFrame) -> np.ndarray:
    n = len(df)
    if not policy.valid_on(AS_OF):
        return np.zeros(n, dtype=np.uint8)
    if policy.conditions is None:
        return np.full(n, TRUE, dtype=np.uint8)
    truth = pandas_tree(policy.conditions, df).array
    return np.where(truth.isna(), UNKNOWN, np.where(truth.fillna(False), TRUE, FALSE)).astype(
        np.uint8)


# --- the run --------------------------------------------------------------------------------

def cold_compile_seconds() -> float:
    """Time of the first evaluation in a fresh process with an empty numba cache."""
    code = (
        "import time;"
        "from bench.synthetic import synthetic_firms, synthetic_policies, AS_OF;"
        "from profiles.reference import size_standard;"
        "from matcher.eligibility import evaluate;"
        "f = synthetic_firms(200, 0); p = synthetic_policies(20, 0);"
        "t = time.perf_counter(); evaluate(f, p, AS_OF, size_standard());"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def our_phases(
    profiles: pd.DataFrame, policies: list[Policy], standard: pd.DataFrame, repeat: int
) -> tuple[list[Phase], pd.DataFrame, float]:
    """derive, encode, compile and the kernel (best of ``repeat``), one at a time.

    Returns the phases, the derived frame (the baselines start from it) and the
    kernel's traced allocation peak in MB. Only the derived frame outlives the call.
    """
    rows: list[Phase] = []
    ph, derived = measure("derive", lambda: derive(profiles, AS_OF, standard))
    rows.append(ph)
    ph, firms = measure("encode", lambda: encode(derived))
    rows.append(ph)
    ph, program = measure("compile_policies", lambda: compile_policies(policies, firms, AS_OF))
    rows.append(ph)
    kernel_runs = []
    for _ in range(repeat):
        ph, status = measure("evaluate_program", lambda: evaluate_program(program, firms))
        kernel_runs.append(ph)
        del status  # each run allocates its own 500 MB verdict matrix, as callers would
    best = min(kernel_runs, key=lambda p: p.wall)
    best.extra["runs_wall_s"] = [round(p.wall, 3) for p in kernel_runs]
    rows.append(best)
    tracemalloc.start()
    evaluate_program(program, firms)
    traced = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    return rows, derived, traced


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numba

    n, m = args.firms, args.policies
    pairs = n * m
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "firms": n, "policies": m, "pairs": pairs, "seed": args.seed,
        "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "load_before": os.getloadavg(),
    }
    print(f"# {n:,} firms x {m} policies = {pairs:,} pairs; numba threads "
          f"{numba.get_num_threads()}, load {os.getloadavg()[0]:.2f}", flush=True)

    t0 = time.perf_counter()
    profiles = synthetic_firms(n, args.seed)
    policies = synthetic_policies(m, args.seed, leaves=(3, 8))
    standard = size_standard()
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    trim_heap()
    report["rss_input_mb"] = rss_mb()

    # numba: compile in a fresh cache (separate process), and the first call here.
    if not args.skip_cold_compile:
        report["numba_cold_compile_s"] = cold_compile_seconds()
    t = time.perf_counter()
    evaluate(profiles.iloc[:50], policies[:5], AS_OF, standard)
    report["numba_first_call_s"] = time.perf_counter() - t

    rows, derived, traced = our_phases(profiles, policies, standard, args.repeat)
    report["kernel_traced_peak_mb"] = traced
    trim_heap()

    ph, ev = measure("evaluate (whole)", lambda: evaluate(profiles, policies, AS_OF, standard))
    rows.append(ph)
    counts = np.bincount(ev.status.ravel(), minlength=3)
    report["status_share"] = {
        "ineligible": counts[FALSE] / pairs, "undetermined": counts[UNKNOWN] / pairs,
        "eligible": counts[TRUE] / pairs,
    }

    def explain_written() -> int:
        explained = 0
        for p in range(m):
            idx = np.flatnonzero(ev.status[p] == UNKNOWN)  # eligible rows have no reasons
            ev.reasons(p, idx)
            explained += len(idx)
        return explained

    ph, explained = measure("reasons (eligible+undetermined rows)", explain_written)
    ph.extra = {"rows_written": int(counts[TRUE] + counts[UNKNOWN]), "rows_explained": explained}
    rows.append(ph)

    # Our verdicts in input order, one policy at a time (a full copy would be 500 MB).
    order = ev.firms.order

    def ours(p: int) -> np.ndarray:
        row = np.empty(n, dtype=np.uint8)
        row[order] = ev.status[p]
        return row

    baselines: list[Phase] = []
    if not args.skip_openfisca:
        ph, inputs = measure("OpenFisca setup", lambda: openfisca_inputs(derived))
        ph2, sim = measure("OpenFisca setup", lambda: build_openfisca(policies, inputs))
        ph.wall += ph2.wall
        ph.cpu += ph2.cpu
        ph.peak = max(ph.peak, ph2.peak)
        baselines.append(ph)
        disagree = 0

        def openfisca_all() -> list[np.ndarray]:
            return [sim.calculate(f"policy_{i}", "2026") for i in range(m)]

        ph, results = measure("OpenFisca (two-valued)", openfisca_all)
        for p, got in enumerate(results):
            mine = ours(p)
            decided = mine != UNKNOWN
            disagree += int(np.count_nonzero(got[decided] != (mine[decided] == TRUE)))
        ph.extra = {"disagreements_on_decided_pairs": disagree}
        baselines.append(ph)
        del sim, inputs, results
        trim_heap()

    if not args.skip_pandas:
        ph, frame2 = measure("pandas setup", lambda: pd.DataFrame(openfisca_inputs(derived)))
        baselines.append(ph)

        def pandas_two_valued(policy: Policy) -> np.ndarray:
            if not policy.valid_on(AS_OF):
                return np.zeros(n, dtype=bool)
            if policy.conditions is None:
                return np.ones(n, dtype=bool)
            truth = numpy_tree(policy.conditions, frame2.__getitem__, n)
            return np.asarray(truth, dtype=bool)

        ph, results2 = measure("pandas (two-valued)",
                               lambda: [pandas_two_valued(p) for p in policies])
        disagree = 0
        for p, got in enumerate(results2):
            mine = ours(p)
            decided = mine != UNKNOWN
            disagree += int(np.count_nonzero(got[decided] != (mine[decided] == TRUE)))
        ph.extra = {"disagreements_on_decided_pairs": disagree}
        baselines.append(ph)
        del frame2, results2
        trim_heap()
        ph, frame = measure("pandas setup (nullable)", lambda: pandas_frame(derived))
        baselines.append(ph)
        ph, results = measure("pandas (three-valued)",
                              lambda: [pandas_status(p, frame) for p in policies])
        ph.extra = {"disagreements": int(sum(
            np.count_nonzero(r != ours(p)) for p, r in enumerate(results)))}
        baselines.append(ph)
        del frame, results
        trim_heap()

    sample = np.random.default_rng(args.seed).choice(n, size=min(args.loop_firms, n),
                                                      replace=False)
    records = derived.iloc[np.sort(sample)].to_dict(orient="records")

    def loop() -> np.ndarray:
        out = np.zeros((m, len(records)), dtype=np.uint8)
        for j, rec in enumerate(records):
            for p, policy in enumerate(policies):
                if policy.valid_on(AS_OF):
                    out[p, j] = naive_tree(rec, policy.conditions)
        return out

    ph, looped = measure("naive per-firm loop (sample)", loop)
    ph.extra = {"sample_firms": len(records), "disagreements": int(sum(
        np.count_nonzero(looped[p] != ours(p)[np.sort(sample)]) for p in range(m)))}
    baselines.append(ph)
    report["load_after"] = os.getloadavg()
    report["phases"] = [vars(p) for p in rows + baselines]
    return report


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}


def naive_leaf(rec: dict[str, Any], leaf: Criterion) -> int:
    """One leaf for one firm record, three-valued, the way a first version would write it."""
    spec = FIELDS[leaf.field]
    op, v = leaf.op, leaf.value
    if spec.kind == "unmapped":
        return UNKNOWN
    if leaf.field == "qualifications":
        mask = rec["qualification_mask"]
        if mask < 0:
            return UNKNOWN
        has = bool(mask >> QUALIFICATIONS.index(str(v)) & 1)
        return TRUE if has == (op == "has") else FALSE
    x = rec[leaf.field]
    if x is None or x is pd.NA or (isinstance(x, float) and x != x):
        return UNKNOWN
    if spec.kind == "prefix" and op in ("in", "not_in"):
        hit = any(str(x).startswith(p) for p in v)  # type: ignore[union-attr]
        return TRUE if hit == (op == "in") else FALSE
    if op in ("in", "not_in"):
        return TRUE if (x in v) == (op == "in") else FALSE  # type: ignore[operator]
    if spec.order is not None:
        x, v = spec.order.index(x), spec.order.index(str(v))
    return TRUE if _CMP[op](x, v) else FALSE


def naive_tree(rec: dict[str, Any], node: Condition | None) -> int:
    if node is None:
        return TRUE
    if isinstance(node, Criterion):
        return naive_leaf(rec, node)
    if isinstance(node, Not):
        return TRUE - naive_tree(rec, node.child)
    values = [naive_tree(rec, c) for c in node.children]
    return min(values) if isinstance(node, AllOf) else max(values)


def print_table(report: dict[str, Any]) -> None:
    pairs = report["pairs"]
    phases = {p["name"]: p for p in report["phases"]}
    ref = phases.get("OpenFisca (two-valued)")
    ref_rate = pairs / ref["wall"] if ref else float("nan")
    ref_cpu_rate = pairs / ref["cpu"] if ref else float("nan")
    print()
    print("| what | values | wall s | CPU s | pairs/s | × OpenFisca | pairs/CPU-s | "
          "× OpenFisca (CPU) | peak RSS MB | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for p in report["phases"]:
        name = p["name"]
        counted = pairs
        values = "3"
        if "two-valued" in name or name in ("OpenFisca setup", "pandas setup"):
            values = "2"
        if "sample" in name:
            counted = p["extra"]["sample_firms"] * report["policies"]
        rate = counted / p["wall"] if p["wall"] else float("nan")
        cpu_rate = counted / p["cpu"] if p["cpu"] else float("nan")
        timed = name in ("evaluate_program", "evaluate (whole)", "OpenFisca (two-valued)",
                         "pandas (two-valued)", "pandas (three-valued)",
                         "naive per-firm loop (sample)")
        rate_s = f"{rate / 1e6:,.1f} M" if timed else ""
        ratio = f"{rate / ref_rate:.1f}" if timed and ref else ""
        cpu_rate_s = f"{cpu_rate / 1e6:,.1f} M" if timed else ""
        cpu_ratio = f"{cpu_rate / ref_cpu_rate:.1f}" if timed and ref else ""
        notes = ", ".join(f"{k}={v}" for k, v in p["extra"].items())
        print(f"| {name} | {values} | {p['wall']:.3f} | {p['cpu']:.3f} | {rate_s} | {ratio} | "
              f"{cpu_rate_s} | {cpu_ratio} | {p['peak']:,.0f} | {notes} |")
    print()
    share = report["status_share"]
    print(f"verdicts: eligible {share['eligible']:.2%}, undetermined {share['undetermined']:.2%}, "
          f"ineligible {share['ineligible']:.2%}")
    print(f"input frame RSS {report['rss_input_mb']:,.0f} MB; kernel traced allocations "
          f"{report['kernel_traced_peak_mb']:,.0f} MB")
    if "numba_cold_compile_s" in report:
        print(f"numba: cold compile (empty cache) {report['numba_cold_compile_s']:.1f} s; ", end="")
    print(f"first call in this process (cache load) {report['numba_first_call_s']:.2f} s")
    print(f"load average before {report['load_before'][0]:.2f}, after "
          f"{report['load_after'][0]:.2f} ({report['cpus']} CPUs)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="kernel runs (best is reported)")
    parser.add_argument("--loop-firms", type=int, default=5_000,
                        help="firms in the naive loop's sample")
    parser.add_argument("--skip-openfisca", action="store_true")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-cold-compile", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--show", type=Path, help="print the table of a saved --json report")
    args = parser.parse_args(argv)
    if args.show:
        print_table(json.loads(args.show.read_text()))
        return
    report = run(args)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=float))


if __name__ == "__main__":
    main()
