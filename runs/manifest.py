"""The run manifest: what a list was computed from, so it can be reproduced years later.

Canonical JSON (sorted keys, Chinese unescaped, fixed indentation, trailing newline): two
runs with the same inputs, code and parameters write the same bytes except for the fields
in :data:`VARYING_FIELDS` — the run's identity and its wall-clock times. ``content_sha256``
hashes everything else, so "same inputs, same list" is one comparison.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from matcher.policy import Policy

MANIFEST_VERSION = 1
VARYING_FIELDS: tuple[str, ...] = ("run_id", "started_at", "finished_at", "elapsed_seconds")
# Packages whose code decides the list: their source is hashed into the manifest.
_RESULT_PACKAGES: tuple[str, ...] = ("matcher", "profiles", "policies", "runs")
_DEPENDENCIES: tuple[str, ...] = ("numpy", "pandas", "pyarrow", "numba")


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, UTF-8 Chinese, two-space indent, final newline."""
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2,
                       separators=(",", ": "), allow_nan=False) + "\n").encode("utf-8")


def sha256_json(obj: Any) -> str:
    compact = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                         allow_nan=False)
    return hashlib.sha256(compact.encode("utf-8")).hexdigest()


def policy_fingerprint(policy: Policy) -> dict[str, Any]:
    """Hashes of what decides a policy's list: its conditions and benefits (and the whole JSON).

    ``sha256`` covers the conditions and benefits; ``contract_sha256`` the whole contract
    object, including the validity window and stacking fields.
    """
    conditions = None if policy.conditions is None else policy.conditions.to_json()
    benefits = [b.to_json() for b in policy.benefits]
    return {
        "id": policy.id,
        "title": policy.title,
        "mode": policy.mode,
        "valid_from": None if policy.valid_from is None else policy.valid_from.isoformat(),
        "valid_until": None if policy.valid_until is None else policy.valid_until.isoformat(),
        "conditions_sha256": sha256_json(conditions),
        "benefits_sha256": sha256_json(benefits),
        "sha256": sha256_json({"conditions": conditions, "benefits": benefits}),
        "contract_sha256": sha256_json(policy.to_json()),
    }


def _source_hash(root: Path) -> str:
    h = hashlib.sha256()
    for pkg in _RESULT_PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def _git_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def code_version() -> dict[str, Any]:
    """Package version, git commit, a hash of the deciding source files, library versions."""
    import matcher

    root = Path(matcher.__file__).resolve().parent.parent
    try:
        version = metadata.version("policy-match")
    except metadata.PackageNotFoundError:
        version = "unknown"
    deps: dict[str, str | None] = {}
    for name in _DEPENDENCIES:
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = None
    return {
        "package": version,
        "git_commit": _git_commit(root),
        "source_sha256": _source_hash(root),
        "dependencies": deps,
    }


def content_sha256(manifest: dict[str, Any]) -> str:
    """Hash of the manifest without its varying fields (and without this hash)."""
    stable = {k: v for k, v in manifest.items()
              if k not in VARYING_FIELDS and k != "content_sha256"}
    return sha256_json(stable)


def finish_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    out = dict(manifest)
    out["manifest_version"] = MANIFEST_VERSION
    out["varying_fields"] = list(VARYING_FIELDS)
    out["content_sha256"] = content_sha256(out)
    return out


class Tally:
    """Counts and amounts per policy and status, exact (amounts summed in fen, 分)."""

    def __init__(self, policy_ids: list[str]) -> None:
        self.per_policy: dict[str, dict[str, int]] = {
            pid: {"eligible": 0, "undetermined": 0, "eligible_fen": 0, "undetermined_fen": 0,
                  "amount_unknown": 0} for pid in policy_ids
        }

    def add(self, table: pa.Table) -> None:
        """Count the rows of a §5 table (string columns), vectorised."""
        if table.num_rows == 0:
            return
        amount = table.column("amount").combine_chunks()
        if not pa.types.is_floating(amount.type):  # text amounts ('' unknown)
            amount = pc.if_else(pc.equal(amount, ""), pa.scalar(None, amount.type), amount)
        fen = pc.round(pc.multiply(amount.cast(pa.float64()), 100)).cast(pa.int64())
        df = pa.table({
            "policy_id": _text(table.column("policy_id")),
            "status": _text(table.column("status")),
            "fen": fen, "unknown": pc.is_null(fen).cast(pa.int64()),
            "one": pc.is_valid(table.column("status")).cast(pa.int64()),
        })
        grouped = df.group_by(["policy_id", "status"]).aggregate(
            [("fen", "sum"), ("unknown", "sum"), ("one", "sum")]).to_pylist()
        for g in grouped:
            t = self.per_policy[g["policy_id"]]
            t[g["status"]] += g["one_sum"]
            t[f"{g['status']}_fen"] += g["fen_sum"] or 0
            t["amount_unknown"] += g["unknown_sum"]

    def summary(self) -> dict[str, Any]:
        per_policy = {}
        totals = {"eligible": 0, "undetermined": 0, "eligible_fen": 0, "undetermined_fen": 0,
                  "amount_unknown": 0}
        for pid, t in sorted(self.per_policy.items()):
            for k in totals:
                totals[k] += t[k]
            per_policy[pid] = _public(t)
        return {"per_policy": per_policy, "totals": _public(totals)}


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Codes (dictionary) as their texts, for grouping."""
    if pa.types.is_dictionary(col.type):
        return pa.chunked_array([c.dictionary_decode() for c in col.chunks],
                                type=col.type.value_type)
    return col


def _public(t: dict[str, int]) -> dict[str, Any]:
    return {
        "eligible": t["eligible"],
        "undetermined": t["undetermined"],
        "rows": t["eligible"] + t["undetermined"],
        "amount_eligible": t["eligible_fen"] / 100,
        "amount_undetermined": t["undetermined_fen"] / 100,
        "rows_amount_unknown": t["amount_unknown"],
    }
