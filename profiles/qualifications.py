"""Aliases of the qualification vocabulary (DATA.md §1) as they appear in real data and text."""

from __future__ import annotations

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


def canonical_qualification(name: str) -> str | None:
    """The canonical name for ``name`` (itself, or via an alias); None if unknown."""
    n = name.strip().replace(" ", "")
    if n in QUALIFICATIONS:
        return n
    return ALIASES.get(n) or ALIASES.get(n.replace("“", "").replace("”", ""))
