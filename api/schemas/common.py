"""Shapes shared by every resource: errors and pagination."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["eligible", "undetermined", "ineligible"]
Role = Literal["admin", "officer", "analyst", "firm"]


class RecordProblem(BaseModel):
    """One bad input: which record, which field, what is wrong (and what to do)."""

    record: str = Field(description="the record: a USCC, a policy id, file:line, or 'body'")
    field: str | None = Field(None, description="the field or JSON path, if one is to blame")
    message: str


class ValidationErrorOut(BaseModel):
    """422: the request was understood but its content is not acceptable."""

    detail: list[RecordProblem]


class MessageOut(BaseModel):
    """Any other error (401, 403, 404, 409, 413, 429): a sentence saying why."""

    detail: str
