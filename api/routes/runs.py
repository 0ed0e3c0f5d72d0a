"""Batch runs (免申即享): live progress and the confirmation workflow over HTTP.

``GET /runs/{id}`` (in ``admin``) returns the store's row of a run; a batch run also has a
run directory (its ``params.run_dir``) whose state is the live truth while it runs — and
after a kill, when the row still says ``running`` — so ``GET /runs/{id}/progress`` reads
it. The workflow steps are the CLI's (``policy-match runs confirm …``), taken by the
calling key, every one in the run's audit log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import StoreDep, require
from api.routes import ERRORS
from runs.checkpoint import live_status
from runs.workflow import Workflow, WorkflowError
from store.keys import ApiKey
from store.store import Store

router = APIRouter(responses=ERRORS, tags=["runs"])

Viewer = Annotated[ApiKey, Depends(require("admin", "officer", "analyst"))]
Officer = Annotated[ApiKey, Depends(require("admin", "officer"))]


class ProgressOut(BaseModel):
    run_id: str
    state: Literal["running", "finalizing", "done", "failed"]
    interrupted: bool = Field(description="the run's process ended before it finished")
    error: str | None
    updated_at: str | None
    progress: dict[str, int | None]
    workflow_state: str | None = Field(description="generated, confirmed, published, final")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: dt.date
    end: dt.date


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uscc: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=5000)
    on: dt.date


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: Literal["upheld", "rejected"]
    effect: Literal["none", "remove", "amend", "add"] = "none"
    amount: float | None = Field(None, ge=0, le=1e13)
    note: str = Field(min_length=1, max_length=2000)


class FinalizeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: dt.date


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    from_state: str | None = Field(alias="from")
    to: str | None
    detail: dict[str, Any]
    hash: str


def _run_dir(store: Store, run_id: str) -> Path:
    run = store.run(run_id)
    path = None if run is None else run.params.get("run_dir")
    if not path or not Path(path).is_dir():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch run {run_id!r} on this host")
    return Path(path)


def _workflow(store: Store, run_id: str) -> Workflow:
    try:
        return Workflow(_run_dir(store, run_id), store)  # each step also in the audit_log
    except WorkflowError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None


def _step(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except WorkflowError as e:  # the wrong moment for this step: a conflict, not bad input
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None


def _entry(e: dict[str, Any]) -> AuditEntryOut:
    return AuditEntryOut.model_validate(e)


@router.get("/runs/{run_id}/progress", response_model=ProgressOut,
            summary="live state and progress of a batch run (a killed run shows failed)")
def progress(run_id: str, key: Viewer, store: StoreDep) -> ProgressOut:
    path = _run_dir(store, run_id)
    live = live_status(path)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch run {run_id!r} on this host")
    wf_state = None
    if (path / "manifest.json").is_file():
        wf_state = Workflow(path).state()
    return ProgressOut(run_id=run_id, workflow_state=wf_state, **live)


@router.post("/runs/{run_id}/confirm", response_model=AuditEntryOut,
             summary="an officer confirms the generated list")
def confirm(run_id: str, body: ConfirmIn, key: Officer, store: StoreDep) -> AuditEntryOut:
    wf = _workflow(store, run_id)
    return _entry(_step(wf.confirm, key.actor, body.note))


@router.post("/runs/{run_id}/publish", response_model=AuditEntryOut,
             summary="publish the confirmed list for objections (公示)")
def publish(run_id: str, body: PublishIn, key: Officer, store: StoreDep) -> AuditEntryOut:
    wf = _workflow(store, run_id)
    return _entry(_step(wf.publish, key.actor, body.start, body.end))


@router.post("/runs/{run_id}/objections", response_model=AuditEntryOut,
             status_code=status.HTTP_201_CREATED,
             summary="record an objection about one firm on one policy during 公示")
def object_(run_id: str, body: ObjectionIn, key: Officer, store: StoreDep) -> AuditEntryOut:
    wf = _workflow(store, run_id)
    return _entry(_step(wf.object, key.actor, body.uscc, body.policy_id, body.text, body.on))


@router.post("/runs/{run_id}/objections/{objection_id}/resolve", response_model=AuditEntryOut,
             summary="resolve an objection (upheld with an effect, or rejected)")
def resolve(run_id: str, objection_id: str, body: ResolveIn, key: Officer,
            store: StoreDep) -> AuditEntryOut:
    wf = _workflow(store, run_id)
    return _entry(_step(wf.resolve, key.actor, objection_id, body.resolution, body.effect,
                        body.amount, body.note))


@router.post("/runs/{run_id}/finalize", response_model=AuditEntryOut,
             summary="close 公示 and write the final list")
def finalize(run_id: str, body: FinalizeIn, key: Officer, store: StoreDep) -> AuditEntryOut:
    wf = _workflow(store, run_id)
    return _entry(_step(wf.finalize, key.actor, body.on))


@router.get("/runs/{run_id}/audit", response_model=list[AuditEntryOut],
            summary="the run's audit log, oldest first (hash-chained)")
def audit(run_id: str, key: Viewer, store: StoreDep) -> list[AuditEntryOut]:
    wf = _workflow(store, run_id)
    return [_entry(e) for e in _step(wf.entries)]
