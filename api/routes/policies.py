"""Policies: create from contract JSON (or a file of them), list, review, and their verdicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from api.deps import Caller, IndexDep, SettingsDep, StoreDep, require, today
from api.routes import ERRORS
from api.routes.firms import AsOfQuery, Limit, Offset, StatusQuery
from api.routes.uploads import saved_upload
from api.schemas.matches import (
    FirmVerdictOut,
    PolicyMatchesOut,
    PolicyStatsOut,
    StatusCounts,
)
from api.schemas.policies import (
    Mode,
    PolicyImportOut,
    PolicyIn,
    PolicyListOut,
    PolicyOut,
    PolicyState,
    PolicySummaryOut,
)
from matcher.compile import region_prefixes
from matcher.errors import PolicyMatchError, RecordError
from matcher.policy import Policy
from policies.read import read_policies
from store.keys import ApiKey
from store.policy_rows import PolicyRow
from store.store import Store

router = APIRouter(prefix="/policies", tags=["policies"], responses=ERRORS)

Editor = Annotated[ApiKey, Depends(require("admin", "officer"))]
Analyst = Annotated[ApiKey, Depends(require("admin", "officer", "analyst"))]
PolicyIdPath = Annotated[str, "policy id"]
SEES_DRAFTS = ("admin", "officer")


def _summary(row: PolicyRow) -> dict[str, Any]:
    p = row.policy
    return {
        "id": p.id, "title": p.title, "issuer": p.issuer, "mode": p.mode,
        "issued_on": p.issued_on, "valid_from": p.valid_from, "valid_until": p.valid_until,
        "state": row.state, "version": row.version,
        "regions": region_prefixes(p.conditions) or [], "updated_at": row.updated_at,
    }


def policy_out(row: PolicyRow) -> PolicyOut:
    return PolicyOut(
        **_summary(row), document=row.policy.to_json(), content_hash=row.content_hash,
        created_at=row.created_at, published_at=row.published_at,
        withdrawn_at=row.withdrawn_at,
    )


def _visible(store: Store, key: ApiKey, policy_id: str) -> PolicyRow:
    """The policy if this key may see it: drafts and withdrawn ones only for editors."""
    row = store.policy(policy_id)
    if row is None or (row.state != "published" and key.role not in SEES_DRAFTS):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no policy {policy_id!r}")
    return row


def _policy(body: PolicyIn) -> Policy:
    return Policy.from_json(body.model_dump(mode="json"))


def _applies_to(row: PolicyRow, region: str) -> bool:
    prefixes = region_prefixes(row.policy.conditions)
    return prefixes is None or any(region.startswith(p) or p.startswith(region)
                                   for p in prefixes)


@router.get("", response_model=PolicyListOut, summary="list policies with filters")
def list_policies(
    key: Caller, store: StoreDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}(\d{2}){0,2}$",
                                        description="GB/T 2260 code or prefix")] = None,
    mode: Mode | None = None,
    valid_on: Annotated[dt.date | None, Query(description="valid on this date")] = None,
    state: Annotated[list[PolicyState] | None, Query(
        description="review states (firm and analyst keys see published only)")] = None,
    limit: Limit = 100, offset: Offset = 0,
) -> PolicyListOut:
    states: list[str] = list(state or [])
    if key.role not in SEES_DRAFTS:
        states = ["published"] if not states or "published" in states else ["__none__"]
    rows = store.policies(states=states or None, mode=mode, valid_on=valid_on)
    if region:
        rows = [r for r in rows if _applies_to(r, region)]
    return PolicyListOut(
        total=len(rows), limit=limit, offset=offset,
        items=[PolicySummaryOut(**_summary(r)) for r in rows[offset:offset + limit]],
    )


@router.post("", response_model=PolicyOut, status_code=status.HTTP_201_CREATED,
             responses={409: ERRORS[404] | {"description": "a policy with this id exists"}},
             summary="create a policy (draft, or published with ?publish=true)")
def create_policy(body: PolicyIn, key: Editor, store: StoreDep, index: IndexDep,
                  publish: bool = False) -> PolicyOut:
    policy = _policy(body)
    if store.policy(policy.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"policy {policy.id!r} exists; PUT /policies/{policy.id} replaces it")
    row = store.put_policy(policy, actor=key.actor, publish=publish)
    index.touch()
    return policy_out(row)


@router.post("/import", response_model=PolicyImportOut,
             summary="create or replace every policy of a contract JSONL upload")
def import_policies(key: Editor, store: StoreDep, index: IndexDep, settings: SettingsDep,
                    file: Annotated[UploadFile, File(description="policies, one JSON per line")],
                    publish: bool = False) -> PolicyImportOut:
    name = file.filename or "upload.jsonl"
    with saved_upload(file, settings.max_upload_bytes) as path:
        try:
            items = read_policies(path)
        except PolicyMatchError as e:
            where, _, message = str(e).partition(": ")
            raise RecordError(where or name, None, message or str(e)) from None
    counts = store.import_policies(items, actor=key.actor, source=name, publish=publish)
    index.touch()
    return PolicyImportOut(**counts)


@router.post("/upload", response_model=PolicyOut, status_code=status.HTTP_201_CREATED,
             responses={409: ERRORS[404] | {"description": "a policy with this id exists"}},
             summary="create a draft policy from a document (.txt/.html/.docx/.pdf)")
def upload_policy(
    request: Request, key: Editor, store: StoreDep, index: IndexDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the policy document")],
    policy_id: Annotated[str | None, Query(min_length=1, max_length=200,
                                           description="default: the file name's stem")] = None,
    publish: bool = False,
) -> PolicyOut:
    """The document is parsed into contract JSON by the policy parser (DATA.md §2–§4);
    it is stored as a draft for review unless ``publish`` is set."""
    name = Path(file.filename or "upload.txt").name
    with saved_upload(file, settings.max_upload_bytes) as path:
        try:
            doc = _parser(request).parse_file(path)
        except PolicyMatchError as e:
            raise RecordError(name, None, str(e)) from None
    if policy_id:
        doc["id"] = policy_id
    policy = Policy.from_json(doc)
    if store.policy(policy.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"policy {policy.id!r} exists; PUT /policies/{policy.id} replaces it")
    row = store.put_policy(policy, actor=key.actor, publish=publish)
    index.touch()
    return policy_out(row)


def _parser(request: Request) -> Any:
    """One parser per app, built on first upload (its tokenizer takes a moment to load)."""
    parser = getattr(request.app.state, "parser", None)
    if parser is None:
        from policies.parse.parser import PolicyParser

        parser = request.app.state.parser = PolicyParser()
    return parser


@router.get("/{policy_id}", response_model=PolicyOut, summary="one policy, full document")
def get_policy(policy_id: str, key: Caller, store: StoreDep) -> PolicyOut:
    return policy_out(_visible(store, key, policy_id))


@router.put("/{policy_id}", response_model=PolicyOut,
            responses={409: ERRORS[404] | {"description": "the policy is withdrawn"}},
            summary="create or replace a policy")
def put_policy(policy_id: str, body: PolicyIn, key: Editor, store: StoreDep,
               index: IndexDep, publish: bool = False) -> PolicyOut:
    if body.id != policy_id:
        raise RecordError(body.id, "id", f"the body's id {body.id!r} is not the URL's")
    row = store.put_policy(_policy(body), actor=key.actor, publish=publish)
    index.touch()
    return policy_out(row)


@router.post("/{policy_id}/publish", response_model=PolicyOut,
             responses={409: ERRORS[404] | {"description": "not a draft or withdrawn policy"}},
             summary="publish: the policy is matched against firms from now on")
def publish_policy(policy_id: str, key: Editor, store: StoreDep, index: IndexDep) -> PolicyOut:
    row = store.publish(policy_id, actor=key.actor)
    index.touch()
    return policy_out(row)


@router.post("/{policy_id}/withdraw", response_model=PolicyOut,
             responses={409: ERRORS[404] | {"description": "the policy is not published"}},
             summary="withdraw a published policy")
def withdraw_policy(policy_id: str, key: Editor, store: StoreDep, index: IndexDep) -> PolicyOut:
    row = store.withdraw(policy_id, actor=key.actor)
    index.touch()
    return policy_out(row)


@router.get("/{policy_id}/matches", response_model=PolicyMatchesOut,
            summary="the stored firms' verdicts on this policy, by USCC")
async def policy_matches(policy_id: str, key: Editor, store: StoreDep, index: IndexDep,
                         settings: SettingsDep, as_of: AsOfQuery = None,
                         status: StatusQuery = None, limit: Limit = 100,
                         offset: Offset = 0) -> PolicyMatchesOut:
    row = await run_in_threadpool(_visible, store, key, policy_id)
    day = as_of or today(settings)
    page = await run_in_threadpool(index.policy_page, row.policy, day,
                                   statuses=status or (), limit=limit, offset=offset)
    return PolicyMatchesOut(
        policy_id=policy_id, as_of=day, counts=StatusCounts(**page.counts), total=page.total,
        limit=limit, offset=offset, score_run=page.score_run,
        firms=[FirmVerdictOut(**v) for v in page.items],
    )


@router.get("/{policy_id}/stats", response_model=PolicyStatsOut,
            summary="how many stored firms are eligible, undetermined, ineligible")
async def policy_stats(policy_id: str, key: Analyst, store: StoreDep, index: IndexDep,
                       settings: SettingsDep, as_of: AsOfQuery = None) -> PolicyStatsOut:
    row = await run_in_threadpool(_visible, store, key, policy_id)
    day = as_of or today(settings)
    page = await run_in_threadpool(index.policy_page, row.policy, day, limit=1)
    return PolicyStatsOut(policy_id=policy_id, as_of=day, counts=StatusCounts(**page.counts),
                          firms=sum(page.counts.values()))
