"""Firms: read and write one profile, bulk import, and the firm's verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import (
    FirmScope,
    IndexDep,
    SettingsDep,
    StoreDep,
    not_found_firm,
    require,
    today,
)
from api.errors import record_problem
from api.match_index import MatchIndex
from api.routes import ERRORS
from api.routes.uploads import saved_upload
from api.schemas.common import RecordProblem, Status
from api.schemas.firms import FirmIn, FirmOut, ImportOut
from api.schemas.matches import FirmMatchesOut
from matcher.errors import RecordError
from profiles.read import normalize_profile
from store.firm_source import JSONL_SUFFIXES, TABLE_SUFFIXES, iter_profile_records
from store.keys import ApiKey
from store.store import StoredFirm

router = APIRouter(prefix="/firms", tags=["firms"], responses=ERRORS)

Reader = Annotated[ApiKey, Depends(require("admin", "officer", "firm"))]
Writer = Annotated[ApiKey, Depends(require("admin", "firm"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


def _firm_out(stored: StoredFirm, created: bool | None = None,
              warnings: list[RecordError] | None = None) -> FirmOut:
    return FirmOut(
        uscc=stored.uscc, profile=stored.record, as_of=stored.as_of,
        imported_at=stored.imported_at, import_id=stored.import_id, created=created,
        warnings=[RecordProblem(**record_problem(w)) for w in warnings or []],
    )


@router.put("/{uscc}", response_model=FirmOut, summary="create or replace a firm's profile")
def put_firm(code: FirmScope, body: FirmIn, key: Writer, store: StoreDep,
             index: IndexDep) -> FirmOut:
    raw = body.model_dump(mode="json", exclude_none=True)
    if str(raw.get("uscc", "")).strip().upper() != code:
        raise RecordError(code, "uscc", f"the body's uscc {raw.get('uscc')!r} is not the URL's")
    warnings: list[RecordError] = []
    record = normalize_profile(raw, code, warnings)
    stored, created = store.put_firm(record, actor=key.actor)
    index.touch()
    return _firm_out(stored, created, warnings)


@router.get("/{uscc}", response_model=FirmOut, summary="a firm's stored profile")
def get_firm(code: FirmScope, key: Reader, store: StoreDep) -> FirmOut:
    stored = store.firm(code)
    if stored is None:
        raise not_found_firm(code)
    return _firm_out(stored)


@router.post("/import", response_model=ImportOut,
             summary="bulk import profiles from a JSONL, CSV or Excel upload")
def import_firms(key: Admin, store: StoreDep, index: IndexDep, settings: SettingsDep,
                 file: Annotated[UploadFile, File(description="JSONL, CSV (UTF-8) or .xlsx")],
                 as_of: Annotated[dt.date | None, Query(
                     description="date the data describes; default: now")] = None,
                 ) -> ImportOut:
    name = file.filename or "upload"
    if not name.lower().endswith(JSONL_SUFFIXES + TABLE_SUFFIXES):
        raise RecordError(name, None, "unsupported file type: use .jsonl, .csv or .xlsx")
    with saved_upload(file, settings.max_upload_bytes) as path:
        warnings: list[RecordError] = []
        stamp = (dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)
                 if as_of is not None else None)
        report = store.import_firms(iter_profile_records(path, warnings), source=name,
                                    actor=key.actor, as_of=stamp, warnings=warnings)
    index.touch()
    return ImportOut(
        import_id=report.import_id, state="done" if report.state == "done" else "failed",
        written=report.written,
        errors=[RecordProblem(**record_problem(e)) for e in report.errors],
        warnings=[RecordProblem(**record_problem(w)) for w in report.warnings],
    )


StatusQuery = Annotated[list[Status] | None, Query(
    description="keep only these statuses (repeat the parameter for several)")]
# Bounded: every new date costs the server a rebuild of its in-memory matcher.
AsOfQuery = Annotated[dt.date | None, Query(
    ge=dt.date(1990, 1, 1), le=dt.date(2100, 12, 31),
    description="evaluation date; default today (Asia/Shanghai)")]
Limit = Annotated[int, Query(ge=1, le=5000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/{uscc}/matches", response_model=FirmMatchesOut,
            summary="the firm's verdict on every published policy")
async def firm_matches(request: Request, code: FirmScope, key: Reader, as_of: AsOfQuery = None,
                       status: StatusQuery = None, limit: Limit = 50,
                       offset: Offset = 0) -> FirmMatchesOut:
    """Eligible first, then undetermined, then ineligible; larger amounts first. ``counts``
    covers every published policy, ``total`` those passing the status filter; page with
    ``limit``/``offset`` to see them all."""
    # Declared here for the docs, the validation and every error; the common 200 is
    # answered before routing by ``api.fastpath`` with the same checks (a test compares
    # the two on generated requests).
    index: MatchIndex = request.app.state.index
    day = as_of or today(request.app.state.settings)
    if index.needs_prepare(day):
        await run_in_threadpool(index.prepare, day)
    body = index.firm_json(code, day, statuses=status or (), limit=limit, offset=offset)
    if body is None:
        raise not_found_firm(code)
    # Serialised by the index to the FirmMatchesOut shape (tests check it against the
    # schema): validating ~50 nested items again per request would cost as much as
    # computing them.
    return Response(body, media_type="application/json")  # type: ignore[return-value]
