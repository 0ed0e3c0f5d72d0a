"""Policies (DATA.md §2) in contract JSON, with their review state."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PolicyState = Literal["draft", "published", "withdrawn"]
Mode = Literal["apply", "no_application", "instant"]


class PolicyIn(BaseModel):
    """A contract policy. Condition trees are checked by the engine's own parser, which
    names the JSON path of a problem (``conditions.all[2].op``). Extra keys (a reviewer's
    ``note``) are kept and returned, as in policy files."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    title: str = ""
    issuer: str = ""
    issued_on: dt.date | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    mode: Mode = "apply"
    conditions: dict[str, Any] | None = Field(None, description="condition tree (DATA.md §3)")
    preferences: list[dict[str, Any]] = Field(default_factory=list)
    benefits: list[dict[str, Any]] = Field(default_factory=list)
    text: str = ""
    source_url: str = ""


class PolicySummaryOut(BaseModel):
    id: str
    title: str
    issuer: str
    mode: str
    issued_on: dt.date | None
    valid_from: dt.date | None
    valid_until: dt.date | None
    state: PolicyState
    version: int
    regions: list[str] = Field(description="region prefixes the policy is limited to; [] = any")
    updated_at: dt.datetime


class PolicyOut(PolicySummaryOut):
    """The full stored policy: contract document plus review state and history stamps."""

    document: dict[str, Any] = Field(description="the contract policy, full text included")
    content_hash: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None


class PolicyListOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[PolicySummaryOut]


class PolicyImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    published: int
