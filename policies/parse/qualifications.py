"""Qualification names as policy texts write them → the canonical vocabulary (DATA.md §1).

The aliases themselves live in :mod:`profiles.qualifications` (one table for firm data and
policy text). Policy prose adds quotes (专精特新“小巨人”企业), levels (省级, 国家级), typos
(认定位) and truncation; and one naming fact matters: a *provincial* 专精特新“小巨人” is
the province's 专精特新中小企业 (湖南省 called them so before 2022), while a national one
(工信部, 国家级) is a 专精特新小巨人企业.

Names that look like a qualification but are not one in the vocabulary (潜在瞪羚,
服务型制造示范企业, 创新型企业, 单项冠军产品) are recognised too, so that the parser can
keep them as ``unmapped`` requirements instead of dropping them or mapping them wrongly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiles.qualifications import canonical_qualification

_Q = r"[“”\"'‘’「」]?"
# (pattern, canonical name or None for "a qualification outside the vocabulary").
# Longer, more specific patterns first; the first match at a position wins.
PATTERNS: tuple[tuple[str, str | None], ...] = (
    (rf"单项冠军{_Q}产品", None),
    (rf"(?:制造业)?{_Q}单项冠军{_Q}(?:示范)?(?:企业)?", "制造业单项冠军企业"),
    (rf"专精特新{_Q}小巨人{_Q}(?:企业|企)?", "专精特新小巨人企业"),
    (rf"{_Q}小巨人{_Q}(?:企业)?", "专精特新小巨人企业"),
    (r"专精特新(?:中小)?企业", "专精特新中小企业"),
    (r"专精特新(?=[,，、。;；和及或])", "专精特新中小企业"),
    (r"(?:国家)?高新技术企业|高企", "高新技术企业"),
    (r"科技型中小企业|科小企业", "科技型中小企业"),
    (r"创新型中小企业", "创新型中小企业"),
    (r"潜在瞪羚(?:企业)?", None),
    (r"瞪羚(?:企业)?", "瞪羚企业"),
    (r"潜在独角兽(?:企业)?|种子独角兽(?:企业)?", None),
    (r"独角兽(?:企业)?", "独角兽企业"),
    (r"技术先进型服务企业", "技术先进型服务企业"),
    (r"(?:国家|省级|市级)?企业技术中心", "企业技术中心"),
    (r"绿色工厂", "绿色工厂"),
    (r"智能制造示范工厂", "智能制造示范工厂"),
    (r"上市后备(?:资源)?企业", "上市后备企业"),
    (r"服务型制造示范(?:企业|平台|项目)?", None),
    (r"创新型企业", None),
    (r"(?:工程|企业)?(?:技术研究中心|工程研究中心|重点实验室|工程技术研究中心)", None),
    (r"隐形冠军(?:企业)?", None),
)
_COMPILED = tuple((re.compile(p), c) for p, c in PATTERNS)

# Level words written before a name: 省级专精特新“小巨人”, 国家级高新技术企业.
LEVEL_RE = re.compile(
    r"(?:国家级|国家|工信部|省级|省|市级|市|区级|区|县级|县|[\u4e00-\u9fff]{2,3}(?:省|市))$"
)


@dataclass(frozen=True)
class QualificationMention:
    """A qualification named in the text; ``canonical`` None if outside the vocabulary."""

    canonical: str | None
    key: str
    start: int
    end: int


def find_qualifications(text: str) -> list[QualificationMention]:
    """Every qualification name in ``text``, non-overlapping, left to right."""
    found: list[QualificationMention] = []
    taken: list[tuple[int, int]] = []
    for rx, canonical in _COMPILED:
        for m in rx.finditer(text):
            s, e = m.start(), m.end()
            if s == e or any(s < te and ts < e for ts, te in taken):
                continue
            name = canonical
            key = canonical or re.sub(r"[“”\"'‘’「」]", "", m.group(0))
            if canonical == "专精特新小巨人企业" and _provincial(text, s):
                # a provincial 小巨人 is the province's 专精特新中小企业
                name = key = "专精特新中小企业"
            if name is not None:
                name = canonical_qualification(name) or name
            found.append(QualificationMention(name, key, s, e))
            taken.append((s, e))
    found.sort(key=lambda q: q.start)
    return found


def _provincial(text: str, start: int) -> bool:
    before = text[max(0, start - 8):start]
    if re.search(r"(?:国家级|国家|工信部|第[一二三四五六七八九十\d]+批)$", before):
        return False
    return bool(re.search(r"(?:省级|[\u4e00-\u9fff]{1,3}省|省)$", before))
