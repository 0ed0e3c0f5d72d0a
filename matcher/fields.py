"""The catalogue of fields a condition may test, with the kind that fixes its operators.

Field names are the contract's (DATA.md §1), verbatim. Money is yuan, ratios are
fractions (3 % is 0.03), ages are whole years.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "bool", "prefix", "category", "text", "set", "date", "unmapped"]

# Qualification vocabulary, in a fixed order: the bit position in the qualification mask.
QUALIFICATIONS: tuple[str, ...] = (
    "高新技术企业",
    "科技型中小企业",
    "创新型中小企业",
    "专精特新中小企业",
    "专精特新小巨人企业",
    "制造业单项冠军企业",
    "瞪羚企业",
    "独角兽企业",
    "技术先进型服务企业",
    "企业技术中心",
    "绿色工厂",
    "智能制造示范工厂",
    "上市后备企业",
)

QUALIFICATION_LEVELS: tuple[str, ...] = ("national", "provincial", "city", "county")

SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium", "large")
# 纳税信用等级 from best to worst: M (new taxpayers) sits between B and C
# (国家税务总局公告2018年第8号).
TAX_CREDIT_RATINGS: tuple[str, ...] = ("D", "C", "M", "B", "A")


@dataclass(frozen=True)
class FieldSpec:
    """How a field is stored and compared."""

    name: str
    kind: Kind
    # For ordered categories: values from lowest to highest, so <, >= … make sense.
    order: tuple[str, ...] | None = None
    derived: bool = False
    description: str = ""


_NUMBER_FIELDS = {
    "employees": "从业人员 (last year), persons",
    "revenue": "上年度营业收入, yuan",
    "total_assets": "资产总额, yuan",
    "rd_expense": "上年度研发费用, yuan",
    "registered_capital": "注册资本, yuan",
    "tax_paid": "上年度纳税总额, yuan",
    "export_value": "上年度出口额, yuan",
    "rd_expense_prev": "前一年度研发费用, yuan",
    "rd_staff_ratio": "科技人员占职工总数比例, fraction",
    "high_tech_revenue_ratio": "高新技术产品收入占比, fraction",
    "invention_patents": "有效发明专利数",
    "utility_patents": "实用新型专利数",
    "software_copyrights": "软件著作权数",
    "unemployment_insurance_months": "连续足额缴纳失业保险费月数",
    "layoff_rate": "上年度裁员率, fraction",
}
_DERIVED_NUMBER_FIELDS = {
    "age_years": "whole years from established_on to as_of (届满 counts)",
    "rd_ratio": "rd_expense / revenue, fraction",
    "rd_increase": "rd_expense - rd_expense_prev, yuan",
}

FIELDS: dict[str, FieldSpec] = {
    **{n: FieldSpec(n, "number", description=d) for n, d in _NUMBER_FIELDS.items()},
    **{n: FieldSpec(n, "number", derived=True, description=d)
       for n, d in _DERIVED_NUMBER_FIELDS.items()},
    "uscc": FieldSpec("uscc", "text", description="统一社会信用代码"),
    "name": FieldSpec("name", "text", description="企业名称"),
    "business_scope": FieldSpec("business_scope", "text", description="经营范围"),
    "products": FieldSpec("products", "text", description="主营产品"),
    "region_code": FieldSpec("region_code", "prefix", description="注册地 GB/T 2260"),
    "industry_code": FieldSpec("industry_code", "prefix", description="GB/T 4754-2017"),
    "established_on": FieldSpec("established_on", "date", description="成立日期"),
    "tax_credit_rating": FieldSpec(
        "tax_credit_rating", "category", order=TAX_CREDIT_RATINGS, description="纳税信用等级"
    ),
    "size_class": FieldSpec(
        "size_class", "category", order=SIZE_CLASSES, derived=True,
        description="中小企业划型 (工信部联企业〔2011〕300号)",
    ),
    "listed": FieldSpec("listed", "bool", description="上市企业"),
    "serious_dishonesty": FieldSpec("serious_dishonesty", "bool", description="严重失信主体"),
    "major_accident_3y": FieldSpec("major_accident_3y", "bool", description="近三年重大事故"),
    "above_scale": FieldSpec("above_scale", "bool", derived=True, description="规模以上"),
    "qualifications": FieldSpec("qualifications", "set", description="资质/认定, canonical names"),
    "tags": FieldSpec("tags", "set", description="free labels"),
    "unmapped": FieldSpec("unmapped", "unmapped", description="a requirement no field expresses"),
}

OPS_BY_KIND: dict[Kind, frozenset[str]] = {
    "number": frozenset({">=", ">", "<=", "<", "==", "!=", "in", "not_in"}),
    "bool": frozenset({"==", "!="}),
    "prefix": frozenset({"==", "!=", "in", "not_in"}),
    "category": frozenset({"==", "!=", "in", "not_in", ">=", ">", "<=", "<"}),
    "text": frozenset({"==", "!=", "in", "not_in"}),
    "set": frozenset({"has", "not_has"}),
    "date": frozenset({">=", ">", "<=", "<", "==", "!="}),
    "unmapped": frozenset({"review"}),
}

ALL_OPS: frozenset[str] = frozenset().union(*OPS_BY_KIND.values())

# Profile fields as stored (not derived), in contract order.
PROFILE_FIELDS: tuple[str, ...] = (
    "uscc", "name", "region_code", "industry_code", "established_on", "employees", "revenue",
    "total_assets", "rd_expense", "registered_capital", "tax_paid", "export_value",
    "rd_expense_prev", "rd_staff_ratio", "high_tech_revenue_ratio", "invention_patents",
    "utility_patents", "software_copyrights", "unemployment_insurance_months", "layoff_rate",
    "tax_credit_rating", "qualifications", "listed", "serious_dishonesty", "major_accident_3y",
    "business_scope", "products", "tags",
)
NUMERIC_PROFILE_FIELDS: tuple[str, ...] = tuple(_NUMBER_FIELDS)
MONEY_FIELDS: frozenset[str] = frozenset(
    {"revenue", "total_assets", "rd_expense", "registered_capital", "tax_paid", "export_value",
     "rd_expense_prev"}
)
INTEGER_FIELDS: frozenset[str] = frozenset(
    {"employees", "invention_patents", "utility_patents", "software_copyrights",
     "unemployment_insurance_months"}
)
RATIO_FIELDS: frozenset[str] = frozenset(
    {"rd_staff_ratio", "high_tech_revenue_ratio", "layoff_rate"})
BOOL_PROFILE_FIELDS: tuple[str, ...] = ("listed", "serious_dishonesty", "major_accident_3y")
