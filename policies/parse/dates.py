"""Dates in policy text: 2023年3月15日, 2023-03-15, 三月十五日, 2027年底 → ``datetime.date``.

A policy's window (``valid_from``/``valid_until``: outside it nothing is eligible) is
read from what the text says about its own period: 自…至…, 执行期限, 有效期, 延续至, 截止时间,
and the last "…前" deadline of the application procedure. Dates inside the titles of
other documents (《…》, 实施办法(2020.04.08-2025.04.08)) and year-only spans
(对2023年至2025年首次认定的) describe something else and are left alone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from policies.parse.numbers import cn_to_int

_CN_DIGIT = "零〇○一二三四五六七八九十"


def _num(s: str) -> int:
    s = s.strip()
    if s.isdigit():
        return int(s)
    return cn_to_int(s)


@dataclass(frozen=True)
class DateMention:
    """A date in the text; ``year_given`` False when the year was inherited (7月16日前)."""

    date: dt.date
    start: int
    end: int
    year_given: bool


_YEAR = r"\d{4}|[零〇○一二三四五六七八九]{4}"
_MD = rf"\d{{1,2}}|[{_CN_DIGIT}]{{1,3}}"
_DATE_RE = re.compile(
    rf"(?P<y>{_YEAR})\s*[-./年]\s*(?P<m>{_MD})\s*[-./月]\s*(?P<d>{_MD})\s*日?(?!\d)"
    rf"|(?P<y2>{_YEAR})\s*年\s*(?P<m3>{_MD})\s*月\s*(?P<eom>底|末)"
    rf"|(?P<y3>{_YEAR})\s*年\s*(?:年)?(?P<eoy>底|末)"
    rf"|(?<![\d年.\-/])(?P<m2>{_MD})\s*月\s*(?P<d2>{_MD})\s*日"
)


def find_dates(text: str, default_year: int | None = None) -> list[DateMention]:
    """Every full date in ``text``; month-day dates take the last year seen (or the default)."""
    out: list[DateMention] = []
    year = default_year
    for m in _DATE_RE.finditer(text):
        try:
            if m.group("eoy"):
                y = _num(m.group("y3"))
                d = dt.date(y, 12, 31)
                given = True
            elif m.group("eom"):
                y, mo = _num(m.group("y2")), _num(m.group("m3"))
                d = dt.date(y, mo, calendar.monthrange(y, mo)[1])
                given = True
            elif m.group("m2"):
                if year is None:
                    continue
                d = dt.date(year, _num(m.group("m2")), _num(m.group("d2")))
                given = False
            else:
                d = dt.date(_num(m.group("y")), _num(m.group("m")), _num(m.group("d")))
                given = True
        except ValueError:
            continue
        if not 1949 <= d.year <= 2100:
            continue
        year = d.year
        out.append(DateMention(d, m.start(), m.end(), given))
    return out


def header_date(value: str) -> dt.date | None:
    """发布日期 from a header value: ``2016-01-29（国科发火…）``; ``2025-03-13（解读）；
    2023-09-03（公告）`` gives the 公告 date; ``2024`` or ``2026-01`` (no day) gives None."""
    parts = re.split(r"[；;]", value)
    preferred = [p for p in parts if re.search(r"公告|发布|印发|发文|施行", p)]
    for part in preferred + parts:
        head = re.split(r"[（(]", part, maxsplit=1)[0]
        found = find_dates(head)
        if found:
            return found[0].date
    return None


def year_hint(value: str) -> int | None:
    """The year a header date names, even when it names no day (``2024``, ``2026-01``)."""
    m = re.search(r"(19|20)\d{2}", value)
    return int(m.group(0)) if m else None


_RANGE_JOIN = re.compile(r"^\s*(?:起)?\s*(?:至|到|-|—|－|~|～|－)\s*$")
_UNTIL_CUES = re.compile(
    r"(?:延续至|延长至|执行至|实施至|有效期至|截至|截止(?:时间|日期)?(?:为|是|分别为|到)?|"
    r"有效期(?:为|限)?(?:至)?)\s*$"
)
_LIST_SEP = re.compile(r"\s*[、和及,，]\s*")
_FROM_CUES = re.compile(r"(?:自|从)\s*$")
_DEADLINE_AFTER = re.compile(r"^\s*(?:前|之前|以前|止|截止)")
_START_AFTER = re.compile(r"^\s*(?:起)?(?:施行|实施|执行|生效)")


@dataclass(frozen=True)
class Window:
    """``valid_from``/``valid_until`` and the spans they were read from."""

    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


def _inside_other_document(text: str, start: int) -> bool:
    """A date in 《…》 or in brackets right after a document name (办法(2020.04.08-…))."""
    before = text[:start]
    if before.count("《") > before.count("》"):
        return True
    op = max(before.rfind("("), before.rfind("（"))
    cl = max(before.rfind(")"), before.rfind("）"))
    if op > cl:
        name = before[max(0, op - 6):op]
        if re.search(r"办法|计划|规定|通知|意见|方案|细则|措施|条例|[》”]$", name):
            return True
    return False


_FROM_ISSUE = re.compile(r"自(?:印发|发布|公布)之日起(?:施行|执行|实施|生效)")
_YEARS_VALID = re.compile(r"有效期(?:为)?\s*([一二两三四五六七八九十\d]+)\s*年")


def _add_years(d: dt.date, n: int) -> dt.date:
    """The day before the same date ``n`` years later (有效期3年 from 2023-10-01 → 2026-09-30)."""
    try:
        end = d.replace(year=d.year + n)
    except ValueError:  # 29 February
        end = d.replace(year=d.year + n, day=28)
    return end - dt.timedelta(days=1)


def policy_window(
    text: str, spans: list[tuple[int, int, str]], default_year: int | None,
    issued_on: dt.date | None = None,
) -> Window:
    """The policy's window from the parts of ``text`` that may state it.

    ``spans`` are ``(start, end, kind)`` of the sections to read; kind ``dates`` (申报时间,
    执行期限: a lone date there is the end of the window) or anything else (only explicit
    cues count there). Deadlines ("7月16日前") and 截止 dates give the latest one.
    """
    valid_from: dt.date | None = None
    until_strong: dt.date | None = None  # 延续至, 执行期限, ranges
    until_deadline: dt.date | None = None  # …前, 截止时间
    for start, end, kind in spans:
        part = text[start:end]
        dates = [d for d in find_dates(part, default_year)
                 if not _inside_other_document(text, start + d.start)]
        used: set[int] = set()
        for i, d in enumerate(dates):
            if i in used:
                continue
            nxt = dates[i + 1] if i + 1 < len(dates) else None
            before = part[max(0, d.start - 12):d.start]
            after = part[d.end:d.end + 8]
            if nxt is not None and _RANGE_JOIN.match(part[d.end:nxt.start]):
                if d.year_given or nxt.year_given:
                    valid_from = valid_from or d.date
                    until_strong = max(filter(None, (until_strong, nxt.date)))
                used.add(i + 1)
                continue
            if _UNTIL_CUES.search(before):
                if re.search(r"截止|截至", before[-8:]):
                    until_deadline = max(filter(None, (until_deadline, d.date)))
                    # 截止时间分别为6月24日、9月16日: the list goes on
                    j = i + 1
                    while j < len(dates) and _LIST_SEP.fullmatch(
                            part[dates[j - 1].end:dates[j].start]):
                        until_deadline = max(until_deadline, dates[j].date)
                        used.add(j)
                        j += 1
                else:
                    until_strong = max(filter(None, (until_strong, d.date)))
                continue
            if _FROM_CUES.search(before) and _START_AFTER.match(after):
                valid_from = valid_from or d.date
                continue
            if _DEADLINE_AFTER.match(after):
                until_deadline = max(filter(None, (until_deadline, d.date)))
                continue
            if kind == "dates" and until_strong is None:
                until_strong = d.date
    for start, end, _kind in spans:
        part = text[start:end]
        if valid_from is None and issued_on is not None and _FROM_ISSUE.search(part):
            valid_from = issued_on
        ym = _YEARS_VALID.search(part)
        if ym and valid_from is not None and until_strong is None:
            n = int(ym.group(1)) if ym.group(1).isdigit() else cn_to_int(ym.group(1))
            until_strong = _add_years(valid_from, n)
    return Window(valid_from, until_strong or until_deadline)
