"""Every message says why: the policy, the estimated amount, what the firm meets, what is missing.

A push that only says "a new policy matches you" is the kind that gets 15 million sends
and 25 thousand views. So each message is rendered from the facts stored with the
notification — the verdict, the amount estimate (an upper bound: the best of the
policy's benefit tiers, see ``matcher.benefits``), the source texts of the conditions
met, and for an undetermined verdict the profile fields to fill in — in plain Chinese.
Rendering happens when a message is sent or read, not when it is enqueued, so that
enqueueing a hundred thousand events stays cheap.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matcher.changes import (
    CAUSE_EXPIRED,
    CAUSE_WITHDRAWN,
    DEADLINE_APPROACHING,
    NEWLY_ELIGIBLE,
    NEWLY_UNDETERMINED,
    NO_LONGER_ELIGIBLE,
    UNMAPPED,
    missing_items,
)
from matcher.missing import profile_inputs

PRODUCT = "政策找企业"

# Chinese names of the profile fields and derived attributes (DATA.md §1), for "请补充…".
FIELD_LABELS: dict[str, str] = {
    "uscc": "统一社会信用代码",
    "name": "企业名称",
    "region_code": "注册地（行政区划）",
    "industry_code": "所属行业（国民经济行业分类）",
    "established_on": "成立日期",
    "employees": "从业人员数",
    "revenue": "上年度营业收入",
    "total_assets": "资产总额",
    "rd_expense": "上年度研发费用",
    "registered_capital": "注册资本",
    "tax_paid": "上年度纳税总额",
    "export_value": "上年度出口额",
    "rd_expense_prev": "前一年度研发费用",
    "rd_staff_ratio": "科技（研发）人员占比",
    "high_tech_revenue_ratio": "高新技术产品（服务）收入占比",
    "invention_patents": "有效发明专利数",
    "utility_patents": "实用新型专利数",
    "software_copyrights": "软件著作权数",
    "unemployment_insurance_months": "连续足额缴纳失业保险费月数",
    "layoff_rate": "上年度裁员率",
    "tax_credit_rating": "纳税信用等级",
    "qualifications": "资质认定情况",
    "listed": "是否上市",
    "serious_dishonesty": "是否列入严重失信主体名单",
    "major_accident_3y": "近三年是否发生重大安全、环保、质量事故",
    "business_scope": "经营范围",
    "products": "主营产品/服务",
    "tags": "标签",
}

EVENT_HEADLINES: dict[str, str] = {
    NEWLY_ELIGIBLE: "您可申报",
    NEWLY_UNDETERMINED: "补充信息后可能可申报",
    NO_LONGER_ELIGIBLE: "匹配结果变更",
    DEADLINE_APPROACHING: "申报即将截止",
}


def field_label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


def format_yuan(amount: float | None) -> str:
    """Yuan as a Chinese reader expects it: 万元 from ten thousand up, else 元."""
    if amount is None or (isinstance(amount, float) and not math.isfinite(amount)):
        return ""
    if amount >= 10_000:
        wan = amount / 10_000
        text = f"{wan:,.2f}".rstrip("0").rstrip(".")
        return f"{text}万元"
    return f"{amount:,.0f}元"


def _split(texts: str | None) -> list[str]:
    return missing_items(texts)


@dataclass(frozen=True)
class Facts:
    """What one notification knows; the columns of ``push_notifications``."""

    id: int
    uscc: str
    policy_id: str
    event: str
    status: str
    amount: float | None
    title: str
    unknown: str = ""
    met: str = ""
    review: str = ""
    cause: str = ""
    days_left: int | None = None
    valid_until: dt.date | None = None
    previous_status: str = ""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Facts:
        amount = row.get("amount")
        return cls(
            id=int(row["id"]), uscc=row["uscc"], policy_id=row["policy_id"],
            event=row["event"], status=row["status"],
            amount=None if amount is None or amount != amount else float(amount),
            title=row.get("title") or row["policy_id"], unknown=row.get("unknown") or "",
            met=row.get("met") or "", review=row.get("review") or "",
            cause=row.get("cause") or "", days_left=row.get("days_left"),
            valid_until=row.get("valid_until"), previous_status=row.get("previous_status") or "",
        )

    @property
    def fields_to_fill(self) -> list[str]:
        """Profile fields the firm can fill in, in the contract's names.

        A derived attribute is asked for by what it is derived from (``size_class`` →
        employees, revenue, total assets, industry); reviewer items (``unmapped``) are
        not the firm's to fill.
        """
        out: list[str] = []
        for f in _split(self.unknown):
            if f == UNMAPPED:
                continue
            out.extend(profile_inputs(f))
        return list(dict.fromkeys(out))


def _deadline(f: Facts) -> str:
    if f.valid_until is None:
        return ""
    left = f"（还剩{f.days_left}天）" if f.days_left is not None and f.days_left >= 0 else ""
    return f"申报截止日期：{f.valid_until.isoformat()}{left}。"


def why(f: Facts) -> str:
    """The reason, in one paragraph of Chinese: why the firm hears about this policy."""
    title = f"《{f.title}》"
    amount = format_yuan(f.amount)
    money = f"预计最高可获支持约{amount}。" if amount else ""
    met = _split(f.met)
    met_text = f"已满足的条件：{'；'.join(met)}。" if met else ""
    if f.event == NEWLY_ELIGIBLE:
        return f"根据企业画像，贵企业符合{title}的申报条件。{money}{met_text}{_deadline(f)}"
    if f.event == NEWLY_UNDETERMINED:
        fill = [field_label(x) for x in f.fields_to_fill]
        wanted = "、".join(dict.fromkeys(fill))
        ask = f"请补充以下信息以确认是否符合条件：{wanted}。" if fill else ""
        review = _split(f.review)
        rev = f"以下条件需由主管部门审核确认：{'；'.join(review)}。" if review else ""
        return (f"贵企业可能符合{title}的申报条件，但部分信息尚不完整。{ask}{rev}"
                f"{money}{met_text}{_deadline(f)}")
    if f.event == NO_LONGER_ELIGIBLE:
        if f.cause == CAUSE_WITHDRAWN:
            return f"{title}已被发布机关撤回，此前推送的匹配结果不再有效，无需继续准备申报。"
        if f.cause == CAUSE_EXPIRED:
            return f"{title}的申报期已结束，此前推送的匹配结果不再有效。"
        fill = [field_label(x) for x in f.fields_to_fill]
        detail = f"目前仍缺少：{'、'.join(dict.fromkeys(fill))}。" if fill else ""
        return f"根据最新的企业信息或政策条件，贵企业已不再确定符合{title}的申报条件。{detail}"
    if f.event == DEADLINE_APPROACHING:
        return f"贵企业符合{title}的申报条件，申报即将截止，请尽快办理。{money}{_deadline(f)}"
    return f"{title}：{f.event}"


def subject(f: Facts) -> str:
    """An e-mail subject line: product, what happened, the policy title."""
    return f"【{PRODUCT}】{EVENT_HEADLINES.get(f.event, '政策提醒')}：{f.title}"


def digest_subject(items: Sequence[Facts]) -> str:
    return f"【{PRODUCT}】政策推送汇总（{len(items)}条）"


def payload(f: Facts) -> dict[str, Any]:
    """The webhook JSON body of one notification (keys fixed by the interface)."""
    return {
        "id": f.id,
        "uscc": f.uscc,
        "policy_id": f.policy_id,
        "event": f.event,
        "status": f.status,
        "amount": f.amount,
        "why": why(f),
        "title": f.title,
        "fields_to_fill": f.fields_to_fill,
        "conditions_met": _split(f.met),
        "review": _split(f.review),
        "cause": f.cause or None,
        "valid_until": f.valid_until.isoformat() if f.valid_until else None,
        "days_left": f.days_left,
    }


def digest_payload(digest_id: str, uscc: str, items: Sequence[Facts]) -> dict[str, Any]:
    """A digest as one webhook body: the common keys, then every item in full."""
    amounts = [i.amount for i in items if i.amount is not None and i.status == "eligible"]
    return {
        "id": digest_id,
        "uscc": uscc,
        "policy_id": None,
        "event": "digest",
        "status": None,
        "amount": sum(amounts) if amounts else None,
        "why": digest_text(items),
        "items": [payload(i) for i in items],
    }


def body(f: Facts, unsubscribe_url: str | None = None) -> str:
    """Plain-text e-mail body of one notification."""
    lines = [f"{f.title}", "", why(f), ""]
    lines += [f"企业：{f.uscc}", f"政策编号：{f.policy_id}"]
    lines += _footer(unsubscribe_url)
    return "\n".join(lines)


def digest_text(items: Sequence[Facts]) -> str:
    parts = [f"{k}. {i.title}：{why(i)}" for k, i in enumerate(items, start=1)]
    return f"共{len(items)}条政策动态。\n" + "\n".join(parts)


def digest_body(items: Sequence[Facts], unsubscribe_url: str | None = None) -> str:
    lines = [digest_text(items), ""]
    if items:
        lines.append(f"企业：{items[0].uscc}")
    lines += _footer(unsubscribe_url)
    return "\n".join(lines)


def _footer(unsubscribe_url: str | None) -> list[str]:
    out = ["", "—", f"本邮件由{PRODUCT}平台根据贵企业的订阅设置自动发送。"]
    if unsubscribe_url:
        out.append(f"退订邮件提醒：{unsubscribe_url}")
    return out
