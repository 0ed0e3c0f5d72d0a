"""Errors as clients see them: 422 names record, field and problem; never a 500 by design.

FastAPI's own validation errors are rewritten into the same shape as the engine's
``RecordError`` / ``ConditionError`` so a client handles one format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from matcher.errors import ConditionError, PolicyMatchError, RecordError
from store.store import Conflict, NotFound


def problem(record: str, field: str | None, message: str) -> dict[str, Any]:
    return {"record": record, "field": field, "message": message}


def unprocessable(problems: Sequence[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": list(problems)}, status_code=422)


def record_problem(e: RecordError) -> dict[str, Any]:
    return problem(e.where, e.field, e.message)


def condition_problem(e: ConditionError) -> dict[str, Any]:
    return problem(e.policy_id or "body", e.path, e.message)


def _body_record(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("uscc", "id"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return "body"


def _path(parts: Sequence[Any]) -> str | None:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:]
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            out.append(problem("body", None, f"malformed JSON: {ctx.get('error', err['msg'])}"))
            continue
        if where == "body":
            body = getattr(exc, "body", None)
            record = _body_record(body)
            if rest and isinstance(rest[0], int) and isinstance(body, list):
                record = f"body[{rest[0]}]"
            field = _path(rest)
            msg = str(err.get("msg", "invalid"))
            if err.get("type") == "extra_forbidden":
                msg = "not a contract field (see DATA.md §1)"
        else:
            record, field, msg = str(where), _path(rest), str(err.get("msg", "invalid"))
        out.append(problem(record, field, msg))
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(validation_problems(exc))

    @app.exception_handler(RecordError)
    async def _record(_request: Request, exc: RecordError) -> JSONResponse:
        return unprocessable([record_problem(exc)])

    @app.exception_handler(ConditionError)
    async def _condition(_request: Request, exc: ConditionError) -> JSONResponse:
        return unprocessable([condition_problem(exc)])

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(PolicyMatchError)
    async def _other(_request: Request, exc: PolicyMatchError) -> JSONResponse:
        return unprocessable([problem("request", None, str(exc))])
