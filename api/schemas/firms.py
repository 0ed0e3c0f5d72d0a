"""Enterprise profiles (DATA.md §1) as the API reads and writes them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import RecordProblem

Money = Annotated[float, Field(ge=0, allow_inf_nan=False, description="yuan (元), not 万元")]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, description="3% is 0.03")]
Count = Annotated[int, Field(ge=0)]


class QualificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="canonical name or a known alias (高企, 小巨人 …)")
    level: Literal["national", "provincial", "city", "county"] | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


class FirmIn(BaseModel):
    """A profile; absent or null means unknown, never zero. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(description="统一社会信用代码, 18 characters, both check digits valid")
    name: str = Field(description="企业名称")
    region_code: str | None = Field(None, description="GB/T 2260, 6 digits")
    industry_code: str | None = Field(None, description="GB/T 4754-2017, e.g. C3491")
    established_on: dt.date | None = None
    employees: Count | None = None
    revenue: Money | None = None
    total_assets: Money | None = None
    rd_expense: Money | None = None
    registered_capital: Money | None = None
    tax_paid: Money | None = None
    export_value: Money | None = None
    rd_expense_prev: Money | None = None
    rd_staff_ratio: Fraction | None = None
    high_tech_revenue_ratio: Fraction | None = None
    invention_patents: Count | None = None
    utility_patents: Count | None = None
    software_copyrights: Count | None = None
    unemployment_insurance_months: Count | None = None
    layoff_rate: Fraction | None = None
    tax_credit_rating: Literal["A", "B", "M", "C", "D"] | None = None
    qualifications: list[QualificationIn] | None = None
    listed: bool | None = None
    serious_dishonesty: bool | None = None
    major_accident_3y: bool | None = None
    business_scope: str | None = None
    products: str | None = None
    tags: list[str] | None = None


class FirmOut(BaseModel):
    """A stored profile with when its data is from (``as_of``) and when it was stored."""

    uscc: str
    profile: dict[str, object] = Field(description="the contract record; unknown fields absent")
    as_of: dt.datetime
    imported_at: dt.datetime
    import_id: int | None
    created: bool | None = Field(None, description="on writes: was the firm new?")
    warnings: list[RecordProblem] = Field(default_factory=list)


class ImportOut(BaseModel):
    """Result of a bulk import: what was stored, what was skipped and why."""

    import_id: int
    state: Literal["done", "failed"]
    written: int
    errors: list[RecordProblem]
    warnings: list[RecordProblem]
