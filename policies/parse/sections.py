"""The parts of a policy document: eligibility, benefits, dates, procedure, references.

Chinese policy notices follow a small set of layouts: numbered headings (一、申报条件 /
二、支持标准), numbered labels (01 享受对象), bare labels (奖励政策: / 政策依据:), inline
labels (认定条件: (一)…), and compilations split by place (a line 长沙市, then its rules).
Each heading is classified by its words; text under it takes that kind. Text under a
place heading also carries the place, because a compilation's rules hold only there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from policies.parse.regions import find_regions

Kind = Literal["eligibility", "benefit", "dates", "procedure", "basis", "other"]


@dataclass(frozen=True)
class Section:
    """A stretch of text ``[start, end)`` of one kind, optionally under a place heading."""

    kind: Kind
    start: int
    end: int
    heading: str = ""
    region: str | None = None
    region_start: int = -1
    region_end: int = -1


# Classification, first match wins: a heading about 申报条件 is eligibility even when it
# also names 支持方向; one about 申报方式与要求 is procedure.
_KIND_RULES: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("basis", re.compile(r"依据|原文|相关政策|政策来源|相关链接|参考文件|附件")),
    ("dates", re.compile(r"时间|期限|有效期|截止|日期|时限|实施期")),
    ("eligibility", re.compile(
        r"条件|对象|主体|范围|资格|认定标准|基本要求|申报要求|申请要求|适用企业|支持企业|"
        r"享受主体|受理范围|准入")),
    ("procedure", re.compile(
        r"程序|流程|方式|材料|步骤|办理|渠道|联系|咨询|要求|工作安排|组织实施|审核|评审")),
    ("benefit", re.compile(
        r"内容|标准|奖励|补助|补贴|资助|优惠|要点|扶持|返还|额度|措施|政策|支持方向|支持方式|"
        r"贴息|奖补")),
)

_CN_NUM = "一二三四五六七八九十"
_NUMBERED = re.compile(rf"^\s*([{_CN_NUM}]+)\s*[、.．]\s*(.+?)\s*$")
_ZERO_NUMBERED = re.compile(r"^\s*(0\d|\d{1,2})\s+(\S.*?)\s*$")
_ARTICLE = re.compile(rf"^\s*第[{_CN_NUM}\d]+[章条节]\s*(.*?)\s*$")
_SUB_NUMBERED = re.compile(rf"^\s*[（(]([{_CN_NUM}]+)[)）]\s*(.+?)\s*$")
_LABEL_ALONE = re.compile(r"^\s*[—\-－ ]*(.+?)\s*[:：]\s*$")
_LABEL_INLINE = re.compile(r"^\s*[—\-－ ]*([^:：,，。;；]{2,16}?)\s*[:：]\s*(\S.*)$")
_LIST_NUMBER = re.compile(rf"^\s*(?:\d{{1,2}}|[{_CN_NUM}]+)\s*[、.．]\s*")


def classify_heading(heading: str) -> Kind:
    """The kind of text that a heading introduces (申报条件 → eligibility, …)."""
    h = re.sub(r"[（(][^）)]*[）)]", "", heading)
    for kind, rx in _KIND_RULES:
        if rx.search(h):
            return kind
    return "other"


def _short_title(s: str) -> bool:
    s = re.sub(r"[（(][^）)]*[）)]", "", s)
    return 1 <= len(s) <= 24 and not re.search(r"[,，。;；!！?？]", s)


def _region_heading(line: str) -> tuple[str, int, int] | None:
    """A line that is only a place (长沙市, 1、萍乡市湘东区): (code, start, end) in the line."""
    m = _LIST_NUMBER.match(line)
    body_start = m.end() if m else 0
    body = line[body_start:].strip().rstrip(":：")
    if not body or len(body) > 16:
        return None
    found = find_regions(body)
    if len(found) != 1 or found[0].start != 0 or found[0].end != len(body):
        return None
    off = line.find(body, body_start)
    return found[0].code, off + found[0].start, off + found[0].end


def find_sections(text: str, start: int = 0) -> list[Section]:
    """Sections of ``text[start:]`` in order; text before any heading is ``other``."""
    sections: list[Section] = []
    region: tuple[str, int, int] | None = None
    top_kind: Kind = "other"
    sub_kind: Kind | None = None
    cur_kind: Kind = "other"
    cur_start = start
    cur_heading = ""

    def close(end: int) -> None:
        if end > cur_start and text[cur_start:end].strip():
            r = region
            sections.append(Section(cur_kind, cur_start, end, cur_heading,
                                    r[0] if r else None, r[1] if r else -1, r[2] if r else -1))

    pos = start
    for raw in text[start:].split("\n"):
        line_start, line_end = pos, pos + len(raw)
        pos = line_end + 1
        line = raw.strip()
        if not line:
            continue
        new_kind: Kind | None = None
        heading = ""
        content_start = line_end + 1
        level = 0
        rh = _region_heading(raw)
        if rh is not None:
            close(line_start)
            region = (rh[0], line_start + rh[1], line_start + rh[2])
            top_kind, sub_kind = "other", None
            cur_kind, cur_start, cur_heading = "other", line_end + 1, line
            continue
        for rx in (_NUMBERED, _ZERO_NUMBERED, _ARTICLE):
            m = rx.match(raw)
            if m and _short_title(m.group(m.lastindex or 1)):
                heading, level = m.group(m.lastindex or 1), 1
                break
        if not heading:
            m = _SUB_NUMBERED.match(raw)
            if m and _short_title(m.group(2)) and len(m.group(2)) <= 12:
                heading, level = m.group(2), 2
        if not heading:
            m = _LABEL_ALONE.match(raw)
            if m and _short_title(m.group(1)):
                heading, level = m.group(1), 2
            else:
                m = _LABEL_INLINE.match(raw)
                if m and classify_heading(m.group(1)) != "other":
                    heading, level = m.group(1), 2
                    content_start = line_start + m.start(2)
                elif m is None:
                    m2 = _LABEL_ALONE.match(re.sub(r"[（(][^）)]*[）)]", "", raw))
                    known = m2 is not None and classify_heading(m2.group(1)) != "other"
                    if m2 and _short_title(m2.group(1)) and known:
                        heading, level = m2.group(1), 2
        if not heading:
            continue
        kind = classify_heading(heading)
        if kind == "other" and level == 2 and content_start > line_end:
            # an inline label with other text: 相关链接:申报流程
            pass
        if level == 1:
            top_kind, sub_kind = kind, None
            new_kind = kind
        else:
            sub_kind = kind if kind != "other" else None
            new_kind = sub_kind or top_kind
        close(line_start)
        cur_kind, cur_start, cur_heading = new_kind, min(content_start, line_end + 1), heading
    close(len(text))
    return sections
