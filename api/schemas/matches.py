"""Verdicts (DATA.md §5) as JSON: lists instead of ``|``-joined strings."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.common import Status


class StatusCounts(BaseModel):
    eligible: int
    undetermined: int
    ineligible: int


class PolicyVerdictOut(BaseModel):
    policy_id: str
    title: str
    status: Status
    amount: float | None = Field(description="estimated yuan; null if not computable or ineligible")
    unmet: list[str] = Field(description="source texts of the conditions the firm fails")
    unknown: list[str] = Field(description="profile fields whose absence leaves it open")
    score: float | None = Field(None, description="relevance in [0, 1] from the latest done "
                                "`policy-match recommend --store` run; null when unavailable")


class FirmMatchesOut(BaseModel):
    uscc: str
    as_of: dt.date
    counts: StatusCounts = Field(description="over every published policy")
    total: int = Field(description="verdicts that pass the status filter")
    limit: int
    offset: int
    score_run: str | None = Field(
        None, description="id of the stored `recommend` run the scores come from; null "
        "before any done run (a pair it did not score, or written after it, has score null)")
    matches: list[PolicyVerdictOut]


class FirmVerdictOut(BaseModel):
    uscc: str
    name: str
    status: Status
    amount: float | None
    unmet: list[str]
    unknown: list[str]
    score: float | None = None


class PolicyMatchesOut(BaseModel):
    policy_id: str
    as_of: dt.date
    counts: StatusCounts = Field(description="over every stored firm")
    total: int
    limit: int
    offset: int
    score_run: str | None = Field(
        None, description="id of the stored `recommend` run the scores come from; null "
        "before any done run, and for a policy not published with this content (a draft): "
        "its firms have score null")
    firms: list[FirmVerdictOut]


class PolicyStatsOut(BaseModel):
    policy_id: str
    as_of: dt.date
    counts: StatusCounts
    firms: int


class StoreStatsOut(BaseModel):
    firms: int
    policies: dict[str, int]
