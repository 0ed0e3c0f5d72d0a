"""The one table of bound words, and how a number in a clause becomes a comparison.

Chinese legal convention (《民法典》第一千二百五十九条, DATA.md §3): 以上、以下、以内、届满
**include** the number; 不满、超过、以外 **exclude** it. A bracketed 含 / 不含 after the
number overrides whatever the word says (小于5000万元(含) is ``<=``). Every parser rule
that reads a bound goes through :func:`bound_of` so that the convention lives here only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies.parse.numbers import Quantity

# Words written BEFORE the number: 不低于100万元, 超过300人, 不满3年.
BEFORE: dict[str, str] = {
    "不低于": ">=", "不少于": ">=", "不小于": ">=", "不得低于": ">=", "不得少于": ">=",
    "至少": ">=", "达到": ">=", "达": ">=", "届满": ">=", "满": ">=", "≥": ">=", "＞＝": ">=",
    "不高于": "<=", "不超过": "<=", "不大于": "<=", "不多于": "<=", "不得超过": "<=",
    "不得高于": "<=", "最多": "<=", "≤": "<=",
    "超过": ">", "高于": ">", "大于": ">", "多于": ">", "＞": ">", ">": ">",
    "低于": "<", "少于": "<", "小于": "<", "不满": "<", "未满": "<", "不足": "<",
    "未达到": "<", "＜": "<", "<": "<",
}
# Words written AFTER the number: 2000万元以上, 300人以下, 三年届满.
AFTER: dict[str, str] = {
    "及以上": ">=", "或以上": ">=", "以上": ">=", "届满": ">=",
    "及以下": "<=", "或以下": "<=", "以下": "<=", "以内": "<=",
    "以外": ">",
}
# Bracketed overrides right after the number or the after-word: 5000万元(含), 300人(不含).
INCLUSIVE = ("(含)", "（含）")
EXCLUSIVE = ("(不含)", "（不含）")
# Range joiners: 5000万元至2亿元 (both ends included unless bracketed otherwise).
RANGE_JOINERS = ("至", "到", "~", "～", "-", "—", "－")

# Words that compare strongly enough to win over an after-word (不低于…以上 is still >=).
_STRONG_BEFORE = frozenset(BEFORE) - {"达到", "达", "满", "届满"}

_BEFORE_RE = re.compile("(" + "|".join(sorted(map(re.escape, BEFORE), key=len, reverse=True)) + ")")
_AFTER_RE = re.compile(
    r"\s*(?P<mod1>\((?:不)?含\)|（(?:不)?含）)?\s*"
    r"(?P<word>" + "|".join(sorted(map(re.escape, AFTER), key=len, reverse=True)) + r")?"
    r"\s*(?P<mod2>\((?:不)?含\)|（(?:不)?含）)?"
)
# What may stand between a before-word and its number: 不高于参保职工总数20%, 在5000万元.
_GAP_RE = re.compile(r"[^,，;；。:：、()（）\d]{0,10}")


@dataclass(frozen=True)
class Bound:
    """``op value``, and the span of text (bound words and number) it was read from."""

    op: str
    value: float
    start: int
    end: int


def _apply_modifier(op: str, modifier: str | None) -> str:
    if not modifier:
        return op
    if modifier in INCLUSIVE:
        return {"<": "<=", ">": ">="}.get(op, op)
    if modifier in EXCLUSIVE:
        return {"<=": "<", ">=": ">"}.get(op, op)
    return op


def _before_word(text: str, q: Quantity) -> tuple[str, int] | None:
    """The comparison word nearest before ``q`` (within a short gap), with its start."""
    window_start = max(0, q.start - 16)
    window = text[window_start:q.start]
    best: tuple[str, int] | None = None
    for m in _BEFORE_RE.finditer(window):
        word = m.group(1)
        if word == "满" and window[m.end():m.end() + 1] == "足":  # 满足 is "satisfy"
            continue
        if _GAP_RE.fullmatch(window[m.end():]):
            best = (word, window_start + m.start())
    return best


def bound_of(text: str, q: Quantity, default: str | None = None) -> Bound | None:
    """The comparison that ``text`` states about quantity ``q``, or ``default`` if none.

    >>> from policies.parse.numbers import find_quantities
    >>> t = "营业收入2000万元以上"
    >>> bound_of(t, find_quantities(t)[0]).op
    '>='
    """
    after = _AFTER_RE.match(text, q.end)
    after_word = after.group("word") if after else None
    modifier = (after.group("mod2") or after.group("mod1")) if after else None
    end = after.end() if after and (after_word or modifier) else q.end
    before = _before_word(text, q)
    op: str | None = None
    start = q.start
    if before is not None and (before[0] in _STRONG_BEFORE or not after_word):
        op, start = BEFORE[before[0]], before[1]
    elif after_word:
        op = AFTER[after_word]
        if before is not None:
            start = before[1]
    elif modifier and default is None:
        # 30人(含) alone reads as "up to and including"
        op = "<=" if modifier in INCLUSIVE else "<"
    if op is None:
        if default is None:
            return None
        op = default
    op = _apply_modifier(op, modifier)
    return Bound(op, q.value, start, end)


def range_of(text: str, low: Quantity, high: Quantity) -> tuple[Bound, Bound] | None:
    """``low 至 high`` → (``>= low``, ``<= high``), brackets overriding; None if not a range."""
    between = text[low.end:high.start]
    m = re.fullmatch(r"\s*(\((?:不)?含\)|（(?:不)?含）)?\s*([至到~～\-—－])\s*", between)
    if not m:
        return None
    low_op = _apply_modifier(">=", m.group(1))
    after = _AFTER_RE.match(text, high.end)
    modifier = (after.group("mod2") or after.group("mod1")) if after else None
    high_op = _apply_modifier("<=", modifier)
    end = after.end() if after and (after.group("word") or modifier) else high.end
    return Bound(low_op, low.value, low.start, low.end), Bound(high_op, high.value, high.start, end)
