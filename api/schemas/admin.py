"""Keys, runs and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Role


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    uscc: str | None = Field(None, description="required for (and only for) firm keys")
    label: str = ""


class KeyOut(BaseModel):
    id: str
    role: Role
    uscc: str | None
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewKeyOut(KeyOut):
    token: str = Field(description="shown once; send as 'Authorization: Bearer <token>'")


class RunOut(BaseModel):
    id: str
    kind: str
    state: str
    as_of: dt.date
    params: dict[str, Any]
    counts: dict[str, Any]
    created_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class HealthOut(BaseModel):
    status: str
