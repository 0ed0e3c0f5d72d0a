"""Numbers as Chinese policy texts write them, turned into contract units.

Money becomes yuan (5000万元 → 50,000,000; 2亿元 → 200,000,000), ratios become fractions
(百分之三, 3%, 3‰ → 0.03, 0.03, 0.003), and Chinese numerals become numbers (两千万 →
20,000,000; 三年 → 3). The contract (DATA.md §1) keeps money in yuan and ratios as
fractions everywhere, so the conversion happens once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["yuan", "fraction", "persons", "years", "months", "items", "points", "count"]

_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}
_SMALL_UNITS: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS: dict[str, int] = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}

CN_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)

_FULLWIDTH = str.maketrans("０１２３４５６７８９．，％", "0123456789.,%")


def normalize_digits(text: str) -> str:
    """Full-width digits, point, comma and percent sign → ASCII (same length, so spans hold)."""
    return text.translate(_FULLWIDTH)


def cn_to_int(s: str) -> int:
    """Value of a Chinese numeral: 三 → 3, 十二 → 12, 两千万 → 20,000,000, 一〇二 → 102.

    Both the positional form (二〇二三) and the unit form (二千零二十三) are read.

    Raises
    ------
    ValueError
        If ``s`` is empty or holds a character that is not a Chinese numeral.
    """
    if not s:
        raise ValueError("empty numeral")
    if any(c not in _DIGITS and c not in _SMALL_UNITS and c not in _BIG_UNITS for c in s):
        raise ValueError(f"not a Chinese numeral: {s!r}")
    if all(c in _DIGITS for c in s) and len(s) > 1:
        # positional: 二〇二三 → 2023
        return int("".join(str(_DIGITS[c]) for c in s))
    total = 0  # completed 亿 groups
    section = 0  # completed 万 groups within the current 亿 group
    current = 0  # below 万
    digit: int | None = None
    for c in s:
        if c in _DIGITS:
            digit = _DIGITS[c]
        elif c in _SMALL_UNITS:
            current += (1 if digit is None else digit) * _SMALL_UNITS[c]
            digit = None
        else:
            unit = _BIG_UNITS[c]
            group = current + (digit or 0)
            if unit == 10_000:
                section = (section + (group or 1)) * 10_000
            else:
                total = (total + section + (group or 1)) * 100_000_000
                section = 0
            current = 0
            digit = None
    return total + section + current + (digit or 0)


def int_to_cn(n: int) -> str:
    """The unit form of an integer below 10¹²: 12 → 十二, 20000000 → 二千万, 102 → 一百零二.

    Inverse of :func:`cn_to_int` (the round-trip property test checks it); policy
    amounts never reach 万亿, so larger numbers are refused rather than guessed.
    """
    if not 0 <= n < 10**12:
        raise ValueError(f"out of range for policy amounts: {n}")
    if n == 0:
        return "零"
    digits = "零一二三四五六七八九"

    def group(g: int, first: bool) -> str:
        out, zero = "", False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d, g = divmod(g, unit)
            if d == 0:
                zero = bool(out)
                continue
            if zero:
                out += "零"
                zero = False
            # 十二, not 一十二, at the very start of the number
            out += ("" if (unit == 10 and d == 1 and first and not out) else digits[d]) + name
        return out

    groups = [(n // 10**8) % 10**4, (n // 10**4) % 10**4, n % 10**4]
    names = ["亿", "万", ""]
    out = ""
    gap = False
    for g, name in zip(groups, names, strict=True):
        if g == 0:
            gap = bool(out)
            continue
        if out and (gap or g < 1000):
            out += "零"
        out += group(g, not out) + name
        gap = False
    return out


# A number as written: 5,000 / 5000 / 1.5 / 两千 / 一 (Chinese numerals), never empty.
_CN_NON_UNIT = "零〇一二两三四五六七八九十百千壹贰叁肆伍陆柒捌玖拾佰仟"
NUMBER_RE = (
    r"(?:\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
    rf"|[{CN_NUMERAL_CHARS}]*[{_CN_NON_UNIT}][{CN_NUMERAL_CHARS}]*)"
)


def parse_number(s: str) -> float:
    """5,000 → 5000; 1.5 → 1.5; 两千 → 2000; 1.5万 → 15000."""
    s = normalize_digits(s).replace(",", "").replace("，", "").replace(" ", "")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([万亿千百]*)", s)
    if m:
        value = float(m.group(1))
        for c in m.group(2):
            value *= {"万": 1e4, "亿": 1e8, "千": 1e3, "百": 1e2}[c]
        return value
    return float(cn_to_int(s))


@dataclass(frozen=True)
class Quantity:
    """A number with its unit, converted to contract units, and where it stands in the text."""

    value: float
    unit: Unit
    start: int
    end: int
    text: str


# Ordered: longer units first so that 万元 wins over 元 and 个月 over 月.
_MONEY = {"亿元": 1e8, "千万元": 1e7, "百万元": 1e6, "万元": 1e4, "千元": 1e3, "元": 1.0,
          "亿": 1e8, "万": 1e4}
_QUANTITY_RE = re.compile(
    r"(?P<pct_cn>百分之|千分之)(?P<pct_num>" + NUMBER_RE + r")"
    r"|(?P<num>" + NUMBER_RE + r")\s*"
    r"(?P<unit>千万元|百万元|亿元|万元|千元|元|亿|万(?=元)|%|‰|‱|个百分点|"
    r"个月|个会计年度|年度|周年|年|月|人|名|件|项|个|家|分|倍|户|次|套)"
)


def find_quantities(text: str) -> list[Quantity]:
    """Every number with a unit in ``text``, converted: money in yuan, ratios as fractions.

    A bare number without a unit is not a quantity here: in policy texts it is nearly
    always a date part, an article number or a count that no field uses.
    """
    out: list[Quantity] = []
    for m in _QUANTITY_RE.finditer(text):
        if m.group("pct_cn"):
            denom = 100.0 if m.group("pct_cn") == "百分之" else 1000.0
            try:
                value = parse_number(m.group("pct_num")) / denom
            except ValueError:
                continue
            out.append(Quantity(_clean(value), "fraction", m.start(), m.end(), m.group(0)))
            continue
        raw, unit = m.group("num"), m.group("unit")
        try:
            value = parse_number(raw)
        except ValueError:
            continue
        kind: Unit
        if unit in _MONEY:
            # 5000万元: the numeral may already hold 万 (两千万元 = 两千万 + 元)
            value *= _MONEY[unit]
            kind = "yuan"
        elif unit == "%":
            value, kind = value / 100.0, "fraction"
        elif unit == "‰":
            value, kind = value / 1000.0, "fraction"
        elif unit == "‱":
            value, kind = value / 10000.0, "fraction"
        elif unit == "个百分点":
            value, kind = value / 100.0, "fraction"
        elif unit in ("年", "周年", "年度", "个会计年度"):
            kind = "years"
        elif unit in ("个月", "月"):
            kind = "months"
        elif unit in ("人", "名"):
            kind = "persons"
        elif unit in ("件", "项", "个", "套"):
            kind = "items"
        elif unit == "分":
            kind = "points"
        else:
            kind = "count"
        out.append(Quantity(_clean(value), kind, m.start(), m.end(), m.group(0)))
    return out


def _clean(v: float) -> float:
    """Integers stay integers in JSON (20000000, not 20000000.0); fractions keep 12 digits."""
    r = round(v, 12)
    return int(r) if r == int(r) and abs(r) < 1e15 else r
