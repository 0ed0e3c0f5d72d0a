"""支持内容 → benefits (DATA.md §4): fixed amounts, rate × base with a cap, tiered amounts.

给予一次性奖励50万元 → ``grant 500000``; 按新增研发投入的10%予以补助，最高500万元 →
``subsidy rate 0.1 base rd_increase cap 5000000``; 分别给予20万元和10万元 → two grants.
The kind comes from the wording (奖励 grant, 补助/补贴/返还 subsidy, 贴息 loan_interest,
贷款/担保 loan, 减征/抵减/免征 tax, 券 voucher). A rate whose base is no profile field (失业保险
费, 进项税额) is kept with ``base`` null: the reader sees it, the engine cannot compute it.
"""

from __future__ import annotations

import re
from typing import Any

from policies.parse.clauses import FILL, Span, clauses, sentences
from policies.parse.numbers import find_quantities
from policies.parse.sections import Section

_KIND_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("loan_interest", re.compile(r"贴息")),
    ("voucher", re.compile(r"券")),
    ("tax", re.compile(r"税|抵减|减征|免征|减免|加计")),
    ("loan", re.compile(r"贷款|担保")),
    ("grant", re.compile(r"奖励|奖补|奖金|嘉奖|奖")),
    ("subsidy", re.compile(r"补助|补贴|资助|返还|补偿|扶持资金|资金支持")),
)
_AWARD = re.compile(
    r"给予|奖励|奖补|补助|补贴|资助|扶持|返还|贴息|额度|提高至|减征|减半|抵减|免征|减按|贷款"
)
_BASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rd_increase", re.compile(
        r"新增(?:研发|研究开发).{0,4}(?:投入|费用)|"
        r"(?:研发|研究开发).{0,4}(?:投入|费用).{0,2}(?:增量|增加额)")),
    ("rd_expense", re.compile(r"(?:研发|研究开发).{0,4}(?:投入|费用|经费)")),
    ("revenue", re.compile(r"营业收入|销售收入|主营业务收入")),
    ("export_value", re.compile(r"出口额")),
    ("tax_paid", re.compile(r"纳税总额|实缴税金")),
    ("total_assets", re.compile(r"资产总额")),
)
_AGGREGATE = re.compile(r"\d+(?:\.\d+)?万?家|累计|共计|合计|总计|共发放|惠及")
_CAP = re.compile(r"最高(?:不超过|可达|为|达)?\s*$|不超过\s*$|上限\s*$|封顶\s*$")


def benefit_kind(text: str) -> str:
    for kind, rx in _KIND_RULES:
        if rx.search(text):
            return kind
    return "other"


def find_benefits(text: str, masked: str, sections: list[Section]) -> list[dict[str, Any]]:
    """Benefits stated in the benefit sections (or, without any, in the other prose)."""
    parts = [s for s in sections if s.kind == "benefit"]
    if not parts:
        parts = [s for s in sections if s.kind in ("other", "procedure")]
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for sec in parts:
        for sent in sentences(masked, sec.start, sec.end):
            for b in _sentence_benefits(text, masked, sent):
                key = (b["kind"], b.get("amount"), b.get("rate"), b.get("base"), b.get("cap"),
                       b["source"])
                if key in seen:
                    continue
                seen.add(key)
                out.append(b)
    return _caps_to_rates(out)


def _caps_to_rates(benefits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """最高500万元 after 按新增研发投入的10%予以补助 is the cap of that rate, not an amount.

    A second cap (…企业年度补助额最高1000万元) is a tier: the same rate with that cap.
    """
    out: list[dict[str, Any]] = []
    rate: dict[str, Any] | None = None
    for b in benefits:
        if "rate" in b:
            rate = b
            out.append(b)
            continue
        if rate is not None and b.get("cap_like") and b.get("amount") is not None:
            if "cap" not in rate:
                rate["cap"] = b["amount"]
            else:
                tier = {k: v for k, v in rate.items() if k != "source"}
                tier["cap"] = b["amount"]
                tier["source"] = b["source"]
                out.append(tier)
            continue
        out.append(b)
    for b in out:
        b.pop("cap_like", None)
    return out


def _sentence_benefits(text: str, masked: str, sent: Span) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cls = clauses(masked, sent)
    stext = masked[sent.start:sent.end]
    if not _AWARD.search(stext):
        return out
    for i, c in enumerate(cls):
        ctext = masked[c.start:c.end]
        if not _AWARD.search(ctext):
            continue
        if _AGGREGATE.search(ctext):
            continue  # 向11.12万家参保单位发放资金11.15亿元: a total paid, not a benefit
        qs = find_quantities(ctext)
        kind = benefit_kind(ctext) if benefit_kind(ctext) != "other" else benefit_kind(stext)
        rates = [q for q in qs if q.unit == "fraction"]
        amounts = [q for q in qs if q.unit == "yuan"]
        src = (c.start, c.end)
        if re.search(r"减半", ctext) and not rates:
            out.append({"kind": "tax", "rate": 0.5, "base": None, "source": text[src[0]:src[1]]})
            continue
        conditional = re.search(r"不高于|不低于|以上|以下|裁员率", ctext)
        if rates and _AWARD.search(ctext) and not conditional:
            base = None
            before = ctext[:rates[0].start].replace(FILL, "")
            for name, rx in _BASES:
                if rx.search(before):
                    base = name
                    break
            cap = _cap(masked, cls, i)
            for q in rates if re.search(r"分别", ctext) else rates[:1]:
                b: dict[str, Any] = {"kind": kind, "rate": q.value, "base": base}
                if cap is not None:
                    b["cap"] = cap
                b["source"] = text[src[0]:src[1]]
                out.append(b)
            continue
        if amounts and _AWARD.search(stext):
            chosen = amounts if re.search(r"分别|、|和", ctext) else amounts[:1]
            for q in chosen:
                before = ctext[max(0, q.start - 12):q.start]
                if re.search(r"收入|营收|销售|资产|贡献|投入|费用|规模|达到|以上|"
                    r"以下", before) and not re.search(r"给予|奖励|补助|最高", before):
                    continue
                if re.search(r"^\s*(?:以上|以下|及以上)", ctext[q.end:q.end + 4]):
                    continue
                cap_like = bool(re.search(r"最高(?:不超过|可达|为|达)?\s*$", ctext[:q.start]))
                out.append({"kind": kind, "amount": q.value, "source": text[src[0]:src[1]],
                            "cap_like": cap_like})
    return out


def _cap(masked: str, cls: list[Span], i: int) -> float | None:
    """最高不超过100万元 in this clause or the next ones of the sentence."""
    for c in cls[i:i + 3]:
        ctext = masked[c.start:c.end]
        for q in find_quantities(ctext):
            if q.unit == "yuan" and _CAP.search(ctext[:q.start]):
                return q.value
    return None
