"""Keys, runs, store statistics and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from api.deps import StoreDep, require
from api.routes import ERRORS
from api.schemas.admin import AuditOut, KeyIn, KeyOut, NewKeyOut, RunOut
from api.schemas.matches import StoreStatsOut
from matcher.errors import RecordError
from profiles.uscc import uscc_problem
from store.keys import ApiKey
from store.store import RunRow

router = APIRouter(responses=ERRORS)

Admin = Annotated[ApiKey, Depends(require("admin"))]
Viewer = Annotated[ApiKey, Depends(require("admin", "officer", "analyst"))]


def _key_out(k: ApiKey) -> KeyOut:
    return KeyOut(id=k.id, role=k.role, uscc=k.uscc, label=k.label,  # type: ignore[arg-type]
                  created_at=k.created_at, revoked_at=k.revoked_at)


def _run_out(r: RunRow) -> RunOut:
    return RunOut(**r.__dict__)


@router.get("/keys", response_model=list[KeyOut], tags=["keys"], summary="every API key")
def list_keys(key: Admin, store: StoreDep) -> list[KeyOut]:
    return [_key_out(k) for k in store.keys()]


@router.post("/keys", response_model=NewKeyOut, status_code=status.HTTP_201_CREATED,
             tags=["keys"], summary="create a key (the token is shown once)")
def create_key(body: KeyIn, key: Admin, store: StoreDep) -> NewKeyOut:
    uscc = body.uscc.strip().upper() if body.uscc else None
    if uscc is not None and (problem := uscc_problem(uscc)):
        raise RecordError("body", "uscc", problem)
    if (body.role == "firm") != (uscc is not None):
        raise RecordError("body", "uscc", "firm keys need a USCC; other roles take none")
    new, token = store.create_key(body.role, uscc=uscc, label=body.label, actor=key.actor)
    return NewKeyOut(**_key_out(new).model_dump(), token=token)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, tags=["keys"],
             summary="revoke a key (effective within the key cache time)")
def revoke_key(key_id: str, key: Admin, store: StoreDep) -> KeyOut:
    return _key_out(store.revoke_key(key_id, actor=key.actor))


@router.get("/runs", response_model=list[RunOut], tags=["runs"], summary="recent runs")
def list_runs(key: Viewer, store: StoreDep,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> list[RunOut]:
    return [_run_out(r) for r in store.runs(limit=limit, offset=offset)]


@router.get("/runs/{run_id}", response_model=RunOut, tags=["runs"],
            summary="a run's state and counts")
def get_run(run_id: str, key: Viewer, store: StoreDep) -> RunOut:
    run = store.run(run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r}")
    return _run_out(run)


@router.get("/stats", response_model=StoreStatsOut, tags=["stats"],
            summary="how many firms and policies are stored")
def stats(key: Viewer, store: StoreDep) -> StoreStatsOut:
    return StoreStatsOut(firms=store.count_firms(), policies=store.count_policies())


@router.get("/audit", response_model=list[AuditOut], tags=["audit"],
            summary="who changed what, newest first")
def audit(key: Admin, store: StoreDep,
          target: Annotated[str | None, Query(max_length=256)] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditOut]:
    return [AuditOut(**e.__dict__) for e in store.audit(target=target, limit=limit)]
