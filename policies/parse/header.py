"""The document header: title, issuer, date and source address.

Collected policy texts open with labelled lines (标题：… / 发布机关：… / 日期：… /
来源地址：…); published documents end with the issuer and the date (the 落款). Both are
read; the labelled form wins. The issuer is cleaned the way a register would write it:
reposting sites, reporters and explanatory brackets are dropped, and where a text says
who issued the policy itself (政策发布：财政部 税务总局) that is the issuer, not the office
that explained it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from policies.parse.dates import find_dates, header_date, year_hint

_LABELS: dict[str, str] = {
    "标题": "title", "题目": "title", "文件名称": "title",
    "发布机关": "issuer", "发文机关": "issuer", "发布单位": "issuer", "发文单位": "issuer",
    "发布机构": "issuer", "制发机关": "issuer",
    "日期": "date", "发布日期": "date", "发文日期": "date", "成文日期": "date",
    "印发日期": "date", "发布时间": "date",
    "来源地址": "url", "原文链接": "url", "来源": "url", "网址": "url",
    "文号/依据": "ref", "文号": "ref", "依据": "ref", "发文字号": "ref",
}
_HEADER_LINE = re.compile(
    r"^\s*(" + "|".join(sorted(map(re.escape, _LABELS), key=len, reverse=True))
    + r")\s*[：:]\s*(.*)$"
)
_ORG_END = re.compile(r"(?:厅|局|委员会|委|人民政府|政府|办公室|办公厅|中心|部|署|院|小组|管委会)$")


@dataclass(frozen=True)
class Header:
    """What the document says about itself, with the span of the issuer in the text."""

    title: str = ""
    issuer: str = ""
    issued_on: dt.date | None = None
    source_url: str = ""
    year: int | None = None
    issuer_start: int = -1
    issuer_end: int = -1
    body_start: int = 0


def clean_issuer(value: str) -> tuple[str, int, int]:
    """(issuer, start, end) inside ``value``: brackets, reposters and 等 dropped."""
    start, end = 0, len(value)
    m = re.search(r"政策发布[：:]\s*", value)
    if m:
        start = m.end()
        nxt = re.search(r"[；;]", value[start:])
        end = start + nxt.start() if nxt else len(value)
    else:
        nxt = re.search(r"[；;]", value)
        if nxt:
            end = nxt.start()
    part = value[start:end]
    # first bracket ends the issuer (（转载：…）, （原通知）, （湖北省）)
    b = re.search(r"[（(]", part)
    if b:
        end = start + b.start()
        part = value[start:end]
    stripped = part.rstrip()
    if stripped.endswith("等"):
        stripped = stripped[:-1]
    lead = len(part) - len(part.lstrip())
    return stripped.strip(), start + lead, start + len(stripped.rstrip())


def read_header(text: str) -> Header:
    """Title, issuer, issue date and source of ``text`` (labelled header or 落款)."""
    fields: dict[str, tuple[str, int]] = {}
    pos = 0
    body_start = 0
    lines = text.split("\n")
    seen_label = False
    first_plain = ""  # an unlabelled line above the labels: the heading of a document
    for line in lines:
        m = _HEADER_LINE.match(line)
        if m is None and not seen_label and not first_plain and line.strip():
            first_plain = line.strip()
        if m and len(fields) < 8:
            key = _LABELS[m.group(1)]
            if key not in fields:
                fields[key] = (m.group(2).strip(), pos + m.start(2))
            seen_label = True
            body_start = pos + len(line) + 1
        elif seen_label and not line.strip():
            body_start = pos + len(line) + 1
            break
        elif seen_label:
            break
        elif line.strip() and not seen_label and pos > 400:
            break
        pos += len(line) + 1
    title = fields.get("title", ("", 0))[0]
    if fields and "title" not in fields and first_plain:
        title = _first_line_title(first_plain)[0]
    issuer, i_start, i_end = "", -1, -1
    if "issuer" in fields:
        value, vpos = fields["issuer"]
        issuer, s, e = clean_issuer(value)
        i_start, i_end = vpos + s, vpos + e
    date_value = fields.get("date", ("", 0))[0]
    issued_on = header_date(date_value) if date_value else None
    year = issued_on.year if issued_on else (year_hint(date_value) if date_value else None)
    url = fields.get("url", ("", 0))[0]
    url = url if re.match(r"https?://", url) else ""
    if not fields:
        title, body_start = _first_line_title(text)
        issuer, i_start, i_end, issued_on = _signature(text)
        if issued_on is None:
            issued_on = _top_date(text)
    if year is None and issued_on is not None:
        year = issued_on.year
    return Header(title, issuer, issued_on, url, year, i_start, i_end, min(body_start, len(text)))


def _first_line_title(text: str) -> tuple[str, int]:
    for m in re.finditer(r"[^\n]+", text):
        line = m.group(0).strip()
        if not line:
            continue
        if len(line) <= 80 and not re.search(r"[。；;]$", line) and not re.match(r"^[一二三四五六七"
            r"八九十]+、", line):
            return line, m.end() + 1
        return "", 0
    return "", 0


def _signature(text: str) -> tuple[str, int, int, dt.date | None]:
    """The 落款 at the end: an issuing body's name and the date, on one line or two."""
    tail_lines = [m for m in re.finditer(r"[^\n]+", text)][-4:]
    issuer, s, e, date = "", -1, -1, None
    for m in reversed(tail_lines):
        line = m.group(0).strip()
        found = find_dates(line)
        if found and date is None and len(line) <= 40:
            date = found[-1].date
            rest = line[: found[-1].start].strip()
            if rest and _ORG_END.search(rest):
                off = m.group(0).find(rest)
                return rest, m.start() + off, m.start() + off + len(rest), date
            continue
        if date is not None and _ORG_END.search(line) and len(line) <= 40:
            off = m.group(0).find(line)
            return line, m.start() + off, m.start() + off + len(line), date
    return issuer, s, e, date


def _top_date(text: str) -> dt.date | None:
    head = text[:300]
    found = find_dates(head)
    return found[0].date if found else None
