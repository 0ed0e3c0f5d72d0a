"""The life of a 免申即享 list: generated → confirmed → published (公示) → objections → final.

Every step is an entry in the run's append-only audit log (``audit.jsonl``): who, when,
from which state to which, and what. Entries are hash-chained (each carries the SHA-256
of the previous one), and every transition first re-checks the list file against the hash
in the manifest, so an edited list or an edited log is detected, never silently carried
into the final list. The generated list itself is never modified: the final list is
derived from it plus the resolutions of recorded objections, each change pointing at its
objection.

Rules:

* ``confirm`` (by an officer) needs state ``generated``;
* ``publish`` needs ``confirmed`` and a 公示 period (start ≤ end);
* ``object`` records an objection about one firm and one policy, only while published and
  on a date inside the period; ``resolve`` gives it a resolution — ``rejected`` (no change)
  or ``upheld`` with an effect: ``remove`` the firm from the policy's list, ``amend`` its
  amount, or ``add`` a firm that was missing;
* ``finalize`` needs ``published``, a date after the period's end and every objection
  resolved; it writes ``final.csv`` (DATA.md §5 columns, sorted like the list).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from matcher.eligibility import Columns, format_amount
from matcher.errors import PolicyMatchError
from profiles.uscc import uscc_problem
from runs.checkpoint import file_digest, read_json, utc_now
from runs.manifest import sha256_json
from runs.outputs import CsvWriter

if TYPE_CHECKING:
    from store.store import Store

WorkflowState = Literal["generated", "confirmed", "published", "final"]
Resolution = Literal["upheld", "rejected"]
Effect = Literal["remove", "amend", "add", "none"]
AUDIT_FILE = "audit.jsonl"
STORE_ACTION_PREFIX = "run.workflow."  # actions of the store's audit_log for workflow steps


class WorkflowError(PolicyMatchError):
    """A transition that the rules do not allow (wrong state, date, unresolved objection)."""


@dataclass(frozen=True)
class Objection:
    id: str
    uscc: str
    policy_id: str
    text: str
    on: str
    by: str
    resolution: str | None = None
    effect: str | None = None
    amount: float | None = None
    note: str = ""
    resolved_by: str | None = None


class Workflow:
    """The confirmation workflow of one finished run (a run directory).

    With a ``store`` (a run recorded in the store), every entry of the log is also written
    to the store's ``audit_log`` (action ``run.workflow.<step>``, target ``run:<id>``), so
    the department's steps sit beside the run's own start and finish there. The file stays
    the reference (its entries are hash-chained); an entry the store missed (it was down)
    is copied at the next step, or by :meth:`sync_store`.
    """

    def __init__(self, run_path: Path, store: Store | None = None) -> None:
        self.path = run_path
        self.store = store
        self.log = run_path / AUDIT_FILE
        if not (run_path / "manifest.json").is_file():
            raise PolicyMatchError(f"{run_path}: the run has not finished; nothing to confirm")

    # -- the log ----------------------------------------------------------------------
    def entries(self) -> list[dict[str, Any]]:
        """All entries, with the chain verified."""
        if not self.log.is_file():
            return []
        out = []
        prev = None
        for n, line in enumerate(self.log.read_text(encoding="utf-8").splitlines(), start=1):
            entry = json.loads(line)
            body = {k: v for k, v in entry.items() if k != "hash"}
            if entry.get("prev") != prev or sha256_json(body) != entry.get("hash"):
                raise PolicyMatchError(f"{self.log}:{n}: audit log altered (hash chain broken)")
            prev = entry["hash"]
            out.append(entry)
        return out

    def _append(self, actor: str, action: str, to: str | None,
                detail: dict[str, Any]) -> dict[str, Any]:
        if not actor or not actor.strip():
            raise WorkflowError("every step needs the name of who takes it (--by)")
        with self.log.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            entries = self.entries()
            state = entries[-1]["to"] if entries else None
            body = {
                "seq": len(entries) + 1, "at": utc_now(), "actor": actor.strip(),
                "action": action, "from": state, "to": to or state, "detail": detail,
                "run_id": self.path.name, "prev": entries[-1]["hash"] if entries else None,
            }
            entry = {**body, "hash": sha256_json(body)}
            fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            fh.flush()
            self._mirror()  # still under the log's lock: one copy per entry
        return entry

    def sync_store(self) -> int:
        """Copy to the store every log entry it does not hold yet; how many were copied."""
        if self.store is None:
            return 0
        with self.log.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            return self._mirror()

    def _mirror(self) -> int:
        if self.store is None:
            return 0
        target = f"run:{self.path.name}"
        try:
            held = {e.detail.get("seq") for e in self.store.audit(target=target,
                                                                   limit=1_000_000)
                    if e.action.startswith(STORE_ACTION_PREFIX)}
            copied = 0
            for e in self.entries():
                if e["seq"] in held:
                    continue
                self.store.record_audit(e["actor"], STORE_ACTION_PREFIX + e["action"], target, {
                    "seq": e["seq"], "from": e["from"], "to": e["to"], "logged_at": e["at"],
                    "hash": e["hash"], "detail": e["detail"]})
                copied += 1
        except Exception as err:  # noqa: BLE001 - any store failure: the file has the step
            raise PolicyMatchError(
                f"run {self.path.name}: the step is in {AUDIT_FILE} but could not be recorded "
                f"in the store ({type(err).__name__}: {err}); it is copied at the next step "
                "or with `policy-match runs audit --store`") from err
        return copied

    def state(self) -> str | None:
        entries = self.entries()
        return entries[-1]["to"] if entries else None

    def _list_check(self) -> dict[str, Any]:
        """The list is the one the run wrote: same bytes as recorded in the manifest."""
        manifest = read_json(self.path / "manifest.json")
        rec = manifest["outputs"]["eligible.csv"]
        path = self.path / "eligible.csv"
        if not path.is_file() or file_digest(path) != rec["sha256"]:
            raise PolicyMatchError(f"{path}: the list differs from the one the run produced")
        return {"list_sha256": rec["sha256"], "rows": manifest["counts"]["rows"]}

    def _require(self, *states: str | None) -> str | None:
        state = self.state()
        if state not in states:
            raise WorkflowError(
                f"run {self.path.name} is {state or 'not generated'}; this step needs "
                f"{' or '.join(str(s) for s in states)}")
        return state

    # -- transitions ------------------------------------------------------------------
    def generate(self, actor: str = "policy-match") -> dict[str, Any]:
        self._require(None)
        return self._append(actor, "generate", "generated", self._list_check())

    def confirm(self, actor: str, note: str = "") -> dict[str, Any]:
        self._require("generated")
        return self._append(actor, "confirm", "confirmed", {**self._list_check(), "note": note})

    def publish(self, actor: str, start: dt.date, end: dt.date) -> dict[str, Any]:
        self._require("confirmed")
        if end < start:
            raise WorkflowError(f"公示 ends ({end}) before it starts ({start})")
        return self._append(actor, "publish", "published",
                            {**self._list_check(), "start": start.isoformat(),
                             "end": end.isoformat()})

    def period(self) -> tuple[dt.date, dt.date]:
        pub = [e for e in self.entries() if e["action"] == "publish"]
        if not pub:
            raise WorkflowError(f"run {self.path.name} has not been published")
        d = pub[-1]["detail"]
        return dt.date.fromisoformat(d["start"]), dt.date.fromisoformat(d["end"])

    def object(self, actor: str, uscc: str, policy_id: str, text: str,
               on: dt.date) -> dict[str, Any]:
        """Record an objection (异议) about one firm on one policy during 公示."""
        self._require("published")
        start, end = self.period()
        if not start <= on <= end:
            raise WorkflowError(f"objections are taken during 公示 {start} – {end}, not on {on}")
        manifest = read_json(self.path / "manifest.json")
        if policy_id not in {p["id"] for p in manifest["policies"]}:
            raise WorkflowError(f"policy {policy_id!r} is not part of run {self.path.name}")
        if not text.strip():
            raise WorkflowError("an objection needs its text")
        problem = uscc_problem(uscc.strip().upper())
        if problem:
            raise WorkflowError(f"uscc: {problem}")
        n = sum(1 for e in self.entries() if e["action"] == "object") + 1
        return self._append(actor, "object", None, {
            "objection_id": f"OBJ-{n:04d}", "uscc": uscc.strip().upper(),
            "policy_id": policy_id, "text": text.strip(), "on": on.isoformat()})

    def objections(self) -> list[Objection]:
        found: dict[str, Objection] = {}
        for e in self.entries():
            d = e["detail"]
            if e["action"] == "object":
                found[d["objection_id"]] = Objection(
                    d["objection_id"], d["uscc"], d["policy_id"], d["text"], d["on"],
                    e["actor"])
            elif e["action"] == "resolve":
                o = found[d["objection_id"]]
                found[o.id] = Objection(o.id, o.uscc, o.policy_id, o.text, o.on, o.by,
                                        d["resolution"], d["effect"], d.get("amount"),
                                        d.get("note", ""), e["actor"])
        return list(found.values())

    def resolve(self, actor: str, objection_id: str, resolution: Resolution,
                effect: Effect = "none", amount: float | None = None,
                note: str = "") -> dict[str, Any]:
        self._require("published")
        current = {o.id: o for o in self.objections()}
        if objection_id not in current:
            raise WorkflowError(f"no objection {objection_id!r} in run {self.path.name}")
        if current[objection_id].resolution is not None:
            raise WorkflowError(f"objection {objection_id} is already resolved")
        if resolution not in ("upheld", "rejected"):
            raise WorkflowError(f"resolution is upheld or rejected, not {resolution!r}")
        if resolution == "rejected" and effect != "none":
            raise WorkflowError("a rejected objection changes nothing (effect none)")
        if resolution == "upheld" and effect not in ("remove", "amend", "add"):
            raise WorkflowError("an upheld objection needs an effect: remove, amend or add")
        if effect in ("amend", "add") and (amount is None or amount < 0):
            raise WorkflowError(f"effect {effect} needs the amount in yuan (≥ 0)")
        if not note.strip():
            raise WorkflowError("a resolution needs its reasoning (--note)")
        return self._append(actor, "resolve", None, {
            "objection_id": objection_id, "resolution": resolution, "effect": effect,
            "amount": amount, "note": note.strip()})

    def finalize(self, actor: str, on: dt.date) -> dict[str, Any]:
        """Write the final list and close the workflow."""
        self._require("published")
        _, end = self.period()
        if on <= end:
            raise WorkflowError(f"公示 runs until {end}; the list can be finalised after it")
        pending = [o.id for o in self.objections() if o.resolution is None]
        if pending:
            raise WorkflowError(f"unresolved objections: {', '.join(pending)}")
        check = self._list_check()
        changes = self._final_list()
        return self._append(actor, "finalize", "final", {
            **check, "on": on.isoformat(), "changes": changes,
            "final_sha256": file_digest(self.path / "final.csv")})

    def _final_list(self) -> list[dict[str, Any]]:
        """final.csv = the list + upheld objections' effects; returns the applied changes."""
        upheld = [o for o in self.objections() if o.resolution == "upheld"]
        effects = {(o.policy_id, o.uscc): o for o in upheld}
        listed: set[tuple[str, str]] = set()
        changes: list[dict[str, Any]] = []
        writer = CsvWriter(self.path / "final.csv")
        try:
            adds: list[dict[str, str]] = []
            for o in sorted(upheld, key=lambda o: (o.policy_id, o.uscc)):
                if o.effect == "add":
                    adds.append({Columns.USCC: o.uscc, Columns.POLICY_ID: o.policy_id,
                                 Columns.STATUS: "eligible",
                                 Columns.AMOUNT: format_amount(float(o.amount or 0)),
                                 Columns.UNMET: "", Columns.UNKNOWN: "", Columns.SCORE: ""})
            reader = pd.read_csv(self.path / "eligible.csv", dtype=str, keep_default_na=False,
                                 encoding="utf-8-sig", chunksize=100_000)
            for chunk in reader:
                keys = list(zip(chunk[Columns.POLICY_ID], chunk[Columns.USCC], strict=True))
                keep = []
                for i, key in enumerate(keys):
                    found = effects.get(key)
                    if found is not None:
                        listed.add(key)
                    if found is None:
                        keep.append(True)
                    elif found.effect == "remove":
                        keep.append(False)
                        changes.append({"objection_id": found.id, "effect": "remove",
                                        "policy_id": key[0], "uscc": key[1]})
                    elif found.effect == "amend":
                        before = chunk.iat[i, chunk.columns.get_loc(Columns.AMOUNT)]
                        chunk.iat[i, chunk.columns.get_loc(Columns.AMOUNT)] = \
                            format_amount(float(found.amount or 0))
                        keep.append(True)
                        changes.append({"objection_id": found.id, "effect": "amend",
                                        "policy_id": key[0], "uscc": key[1],
                                        "amount_before": before,
                                        "amount_after": format_amount(float(found.amount or 0))})
                    else:
                        keep.append(True)
                chunk = chunk[keep]
                last = keys[-1] if keys else None
                take = [a for a in adds if last is not None
                        and (a[Columns.POLICY_ID], a[Columns.USCC]) <= last]
                adds = [a for a in adds if a not in take]
                if take:
                    chunk = pd.concat([chunk, pd.DataFrame(take)], ignore_index=True)
                    chunk = chunk.sort_values([Columns.POLICY_ID, Columns.USCC], kind="stable")
                writer.write(pa.Table.from_pandas(chunk, preserve_index=False))
            if adds:
                writer.write(pa.Table.from_pandas(pd.DataFrame(adds), preserve_index=False))
            for o in upheld:  # every effect must fit the list before final.csv appears
                key = (o.policy_id, o.uscc)
                if o.effect == "add":
                    if key in listed:
                        raise WorkflowError(f"{o.id}: {o.uscc} is already on {o.policy_id}'s "
                                            "list; use amend")
                    changes.append({"objection_id": o.id, "effect": "add",
                                    "policy_id": key[0], "uscc": key[1],
                                    "amount_after": format_amount(float(o.amount or 0))})
                elif key not in listed:
                    raise WorkflowError(f"{o.id}: {o.uscc} is not on {o.policy_id}'s list; "
                                        f"cannot {o.effect}")
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return sorted(changes, key=lambda c: (c["policy_id"], c["uscc"]))


def audit_digest(entries: list[dict[str, Any]]) -> str:
    """One hash for a whole log (the last entry's hash covers the chain)."""
    return entries[-1]["hash"] if entries else hashlib.sha256(b"").hexdigest()
