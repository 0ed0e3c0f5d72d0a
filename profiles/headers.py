"""Chinese spreadsheet headers → contract field names, with the unit each header implies.

Provincial data platforms export 营业收入(万元), 资产总额（亿元）, 研发人员占比(%): the
unit lives in the header, so conversion to yuan and fractions happens here, once, by
header, never by guessing from the size of a number.
"""

from __future__ import annotations

import re

from matcher.errors import PolicyMatchError
from matcher.fields import PROFILE_FIELDS

ALIASES: dict[str, tuple[str, ...]] = {
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码"),
    "name": ("企业名称", "单位名称", "名称", "企业"),
    "region_code": ("注册地区划代码", "行政区划代码", "区划代码", "注册地代码", "地区代码"),
    "industry_code": ("行业代码", "国民经济行业代码", "所属行业代码"),
    "established_on": ("成立日期", "注册日期", "成立时间"),
    "employees": ("从业人数", "从业人员", "从业人员数", "职工人数", "员工人数", "职工总数"),
    "revenue": ("营业收入", "上年度营业收入", "主营业务收入"),
    "total_assets": ("资产总额", "总资产"),
    "rd_expense": ("研发费用", "研发投入", "上年度研发费用", "研发经费"),
    "registered_capital": ("注册资本",),
    "tax_paid": ("纳税总额", "上年度纳税总额", "纳税额"),
    "export_value": ("出口额", "上年度出口额"),
    "rd_expense_prev": ("前一年度研发费用", "前年研发费用", "上上年度研发费用"),
    "rd_staff_ratio": ("研发人员占比", "科技人员占比", "研发人员比例"),
    "high_tech_revenue_ratio": ("高新技术产品收入占比", "高新收入占比"),
    "invention_patents": ("发明专利", "有效发明专利", "发明专利数", "有效发明专利数"),
    "utility_patents": ("实用新型专利", "实用新型专利数"),
    "software_copyrights": ("软件著作权", "软件著作权数", "软著"),
    "unemployment_insurance_months": ("失业保险缴纳月数", "连续缴纳失业保险月数", "参保月数"),
    "layoff_rate": ("裁员率", "上年度裁员率"),
    "tax_credit_rating": ("纳税信用等级", "纳税信用"),
    "qualifications": ("资质", "企业资质", "资质认定", "认定资质"),
    "listed": ("是否上市", "上市企业", "上市"),
    "serious_dishonesty": ("严重失信", "是否严重失信", "失信"),
    "major_accident_3y": ("近三年重大事故", "重大事故"),
    "business_scope": ("经营范围",),
    "products": ("主营产品", "主营产品/服务", "主要产品"),
    "tags": ("标签",),
}

UNIT_FACTORS: dict[str, float] = {
    "元": 1.0, "千元": 1e3, "万元": 1e4, "百万元": 1e6, "亿元": 1e8,
    "%": 0.01, "％": 0.01, "‰": 0.001,
    "人": 1.0, "件": 1.0, "个": 1.0, "月": 1.0, "项": 1.0,
}

_LOOKUP = {alias: field for field, names in ALIASES.items() for alias in names}
_UNIT = re.compile(r"^(?P<name>.*?)\s*[\(（\[【]\s*(?P<unit>[^\)）\]】]*)\s*[\)）\]】]\s*$")


def map_header(header: str) -> tuple[str | None, float]:
    """(contract field or None, multiplier) for one header cell.

    Contract names pass through with factor 1 (they are already yuan and fractions).
    """
    h = str(header).strip().replace("\ufeff", "")
    if h in PROFILE_FIELDS:
        return h, 1.0
    m = _UNIT.match(h)
    name, unit = (m.group("name").strip(), m.group("unit").strip()) if m else (h, "")
    field = _LOOKUP.get(name.replace(" ", ""))
    if field is None:
        return None, 1.0
    if unit and unit not in UNIT_FACTORS:
        raise ValueError(f"header {header!r}: unknown unit {unit!r}")
    return field, UNIT_FACTORS.get(unit, 1.0)


def map_headers(columns: list[str], name: str) -> tuple[dict[str, str], dict[str, float]]:
    """Map a whole header row: (column → field, field → unit factor).

    Refuses (PolicyMatchError naming ``name``:1) a header with an unknown unit, two columns
    for one field, or no 统一社会信用代码 column — the file cannot be read row by row then.
    """
    mapping: dict[str, str] = {}
    factors: dict[str, float] = {}
    for col in columns:
        try:
            fld, factor = map_header(str(col))
        except ValueError as e:
            raise PolicyMatchError(f"{name}:1: {e}") from None
        if fld is None:
            continue
        if fld in factors:
            raise PolicyMatchError(f"{name}:1: two columns map to field '{fld}'")
        mapping[str(col)] = fld
        factors[fld] = factor
    if "uscc" not in factors:
        raise PolicyMatchError(f"{name}:1: no 统一社会信用代码/uscc column among {list(columns)}")
    return mapping, factors
