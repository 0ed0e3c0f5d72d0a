"""Sentences and clauses of policy prose, on a masked copy that keeps every offset.

Brackets in policy text mostly explain (主要产品(服务), (实际经营期不满三年的按实际经营时间
计算,下同)) and 《…》 names other documents; neither states a requirement of its own, and
reading them would turn 不满三年 in an explanation into an age limit. The mask replaces
their content with a filler of the same length, so that every span found on the masked
copy is also the right span of the original text (the ``source`` of a leaf must be a
substring of the input). The bound markers (含) and (不含) are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILL = "＿"
_PAREN = re.compile(r"[（(][^（()）]*[)）]")
_TITLE = re.compile(r"《[^《》]*》")
# (含)/(不含) are bound markers; (一)/(1) are list markers: both are kept.
_KEEP_ANY = re.compile(r"[（(](?:不)?含[)）]|[（(][一二三四五六七八九十\d]{1,3}[)）]")


def mask(text: str) -> str:
    """``text`` with bracket and 《》 contents replaced by a filler (same length)."""
    chars = list(text)
    work = list(text)
    for m in _KEEP_ANY.finditer(text):
        for i in range(m.start(), m.end()):
            work[i] = "\x01"
    while True:
        found = False
        for m in _PAREN.finditer("".join(work)):
            found = True
            for i in range(m.start() + 1, m.end() - 1):
                chars[i] = FILL
            for i in range(m.start(), m.end()):
                work[i] = "\x02"
        if not found:
            break
    for m in _TITLE.finditer(text):
        for i in range(m.start() + 1, m.end() - 1):
            chars[i] = FILL
    return "".join(chars)


@dataclass(frozen=True)
class Span:
    """``[start, end)`` in the original text."""

    start: int
    end: int

    def text(self, s: str) -> str:
        return s[self.start:self.end]


_SENTENCE_END = re.compile(r"[。;；!！?？\n]")
_CLAUSE_SEP = re.compile(r"(?<!\d)[,，]|[,，](?!\d{3}(?:\D|$))")


def sentences(masked: str, start: int, end: int) -> list[Span]:
    """Sentences of ``masked[start:end]`` (ends at 。；; ! ? and line breaks)."""
    out: list[Span] = []
    s = start
    for m in _SENTENCE_END.finditer(masked, start, end):
        if m.start() > s:
            out.append(Span(s, m.start()))
        s = m.end()
    if s < end:
        out.append(Span(s, end))
    return [sp for sp in (trim(masked, x) for x in out) if sp.end > sp.start]


def clauses(masked: str, span: Span) -> list[Span]:
    """Comma-separated clauses of a sentence (commas inside brackets are masked away)."""
    out: list[Span] = []
    s = span.start
    for m in _CLAUSE_SEP.finditer(masked, span.start, span.end):
        out.append(Span(s, m.start()))
        s = m.end()
    out.append(Span(s, span.end))
    return [sp for sp in (trim(masked, x) for x in out) if sp.end > sp.start]


_TRIM_CHARS = " \t\r\n:：,，、。;；" + FILL


def trim(masked: str, span: Span) -> Span:
    """The span without surrounding blanks and punctuation."""
    s, e = span.start, span.end
    while s < e and masked[s] in _TRIM_CHARS:
        s += 1
    while e > s and masked[e - 1] in _TRIM_CHARS:
        e -= 1
    return Span(s, e)


_CONNECTORS = re.compile(
    r"^(?:其中|并且|而且|同时|以及|或者|并|且|及|和|或|还|另外|此外|但|但是)\s*"
)


def strip_connector(masked: str, span: Span) -> tuple[Span, str]:
    """The clause without a leading connective (且/并/或/以及 …) and the connective."""
    m = _CONNECTORS.match(masked[span.start:span.end])
    if not m or m.end() == 0:
        return span, ""
    return trim(masked, Span(span.start + m.end(), span.end)), m.group(0).strip()
