"""Industry names in policy text → GB/T 4754-2017 code prefixes (DATA.md §3).

制造业 → ``C``, 软件和信息技术服务业 → ``I65``, 工业 → ``B``, ``C``, ``D`` (采矿, 制造, 电热燃水:
the statistical meaning of 工业). Names come from the shipped GB/T 4754 table (sections
and divisions); a few everyday names that policy texts use instead (软件企业, 餐饮企业)
are added here. Generic two-character names (农业, 教育, 体育) are left out: in policy
prose they rarely mean the industry class (职业教育, 体育赛事).
"""

from __future__ import annotations

from functools import cache

from profiles.reference import industries

EVERYDAY_NAMES: dict[str, tuple[str, ...]] = {
    "工业": ("B", "C", "D"),
    "先进制造业": ("C",),
    "制造企业": ("C",),
    "制造类企业": ("C",),
    "软件企业": ("I65",),
    "软件业": ("I65",),
    "软件和信息服务业": ("I65",),
    "信息技术服务业": ("I65",),
    "批发零售业": ("F",),
    "住宿餐饮业": ("H",),
    "餐饮企业": ("H62",),
    "零售企业": ("F52",),
    "批发企业": ("F51",),
    "住宿企业": ("H61",),
    "建筑企业": ("E",),
    "建筑业企业": ("E",),
    "房地产开发企业": ("K70",),
    "物流企业": ("G",),
    "交通运输企业": ("G",),
    "农业企业": ("A",),
    "采矿企业": ("B",),
}
# Short everyday names that are an industry only in a list or before 企业/行业
# (房地产、金融类企业不得申报), not in prose (房地产市场, 金融支持).
LISTED_ONLY: dict[str, tuple[str, ...]] = {
    "房地产": ("K",),
    "金融": ("J",),
    "类金融": ("J",),
    "餐饮": ("H62",),
    "住宿": ("H61",),
    "批发": ("F51",),
    "零售": ("F52",),
    "建筑": ("E",),
}
# Words that contain an industry name but mean something else.
NOT_INDUSTRY: tuple[str, ...] = (
    "制造业单项冠军", "制造强国", "制造强省", "服务型制造", "智能制造", "先进制造业高地",
    "工业和信息化", "工业设计", "工业互联网", "工业六基", "工业“六基”", "工信", "工业园",
)


@cache
def industry_lexicon() -> dict[str, tuple[str, ...]]:
    """Name → GB/T 4754 prefixes, from the shipped table plus everyday names."""
    df = industries()
    out: dict[str, tuple[str, ...]] = {}
    for code, name in zip(df["full_code"], df["name"], strict=True):
        if len(code) > 3 or len(name) < 3:
            continue
        out.setdefault(name, (code,))
        # 农、林、牧、渔业 is also written 农林牧渔业
        if "、" in name:
            out.setdefault(name.replace("、", ""), (code,))
    out.update(EVERYDAY_NAMES)
    out.update(LISTED_ONLY)
    return out


def industry_words() -> list[str]:
    """Every name the lexicon knows (the tokenizer keeps them whole)."""
    return sorted(industry_lexicon(), key=len, reverse=True)
