"""Aliases of the qualification vocabulary (DATA.md §1) as they appear in real data and text."""

from __future__ import annotations

import re

from matcher.fields import QUALIFICATIONS

ALIASES: dict[str, str] = {
    "高企": "高新技术企业",
    "国家高新技术企业": "高新技术企业",
    "国家级高新技术企业": "高新技术企业",
    "科技型中小企业": "科技型中小企业",
    "科小": "科技型中小企业",
    "创新型中小企业": "创新型中小企业",
    "专精特新": "专精特新中小企业",
    "专精特新企业": "专精特新中小企业",
    "省级专精特新中小企业": "专精特新中小企业",
    "专精特新小巨人": "专精特新小巨人企业",
    "小巨人": "专精特新小巨人企业",
    "小巨人企业": "专精特新小巨人企业",
    "国家级专精特新小巨人企业": "专精特新小巨人企业",
    "专精特新“小巨人”企业": "专精特新小巨人企业",
    "单项冠军": "制造业单项冠军企业",
    "单项冠军企业": "制造业单项冠军企业",
    "制造业单项冠军": "制造业单项冠军企业",
    "瞪羚": "瞪羚企业",
    "独角兽": "独角兽企业",
    "技术先进型服务企业": "技术先进型服务企业",
    "企业技术中心": "企业技术中心",
    "省级企业技术中心": "企业技术中心",
    "国家企业技术中心": "企业技术中心",
    "绿色工厂": "绿色工厂",
    "智能制造示范工厂": "智能制造示范工厂",
    "上市后备企业": "上市后备企业",
}


ALIASES.update({
    "制造业单项冠军示范企业": "制造业单项冠军企业",
    "单项冠军示范企业": "制造业单项冠军企业",
    "技术先进型服务企业（服务外包）": "技术先进型服务企业",
})

# Quotes around 小巨人, a level or note in brackets (高新技术企业（国家级）), the issuing
# level or place before the name (湖南省上市后备企业) and a procedural word after it
# (科技型中小企业入库) do not change which qualification a record names.
_QUOTES = str.maketrans("", "", "“”\"'‘’「」『』")
_BRACKETED = re.compile(r"[(（【\[][^)）】\]]*[)）】\]]")
_LEVEL_PREFIX = re.compile(
    r"^(?:国家级|国家|省级|市级|县级|区级|[\u4e00-\u9fff]{2,9}?(?:省|自治区|市|自治州|州|县|区))"
)
_PROCEDURE_SUFFIX = re.compile(r"(?:入库|认定|评价|称号|资质)$")


def canonical_qualification(name: str) -> str | None:
    """The canonical name for ``name`` (itself, or via an alias); None if unknown.

    Unknown names are dropped by the readers (with a warning), which makes ``has`` false:
    so a name that only differs by quotes, a bracketed level, a place or a suffix is
    resolved here rather than lost.
    """
    n = name.strip().replace(" ", "").replace("\u3000", "")
    for candidate in _variants(n):
        if candidate in QUALIFICATIONS:
            return candidate
        if candidate in ALIASES:
            return ALIASES[candidate]
    return None


def _variants(n: str) -> list[str]:
    """``n`` as written, then with decorations removed one kind after another."""
    out = [n, n.translate(_QUOTES)]
    out.append(_BRACKETED.sub("", out[-1]))
    out.append(_PROCEDURE_SUFFIX.sub("", out[-1]))
    out.append(_LEVEL_PREFIX.sub("", out[-1]))
    out.append(_PROCEDURE_SUFFIX.sub("", out[-1]))
    return out
