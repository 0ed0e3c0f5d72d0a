"""The two texts that relevance compares: what a firm does, and whom a policy is for.

A firm is described by its 经营范围, its 主营产品 and the name of its GB/T 4754 class
(and division), which is the one description every firm has even when the free text is
thin. A policy is described by its title and the sections of its text that say whom and
what it supports (支持对象, 支持方向, 申报对象 …): the rest of a policy — procedures,
deadlines, the eligibility thresholds — is the same boilerplate across policies and
would make every policy look alike. Industries that the policy's conditions or
preferences name (``industry_code in [C34, …]``) are added by name, since that is the
policy saying outright which sectors it targets.

Industry names come in as a mapping (``profiles.reference.industry_names()``), so this
module stays free of I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.policy import Policy

# Section titles that say whom or what a policy supports.
SECTION_KEYWORDS: tuple[str, ...] = (
    "支持对象", "支持方向", "支持范围", "支持领域", "支持重点", "重点支持", "扶持对象",
    "扶持方向", "扶持范围", "扶持重点", "奖励对象", "奖补对象", "补助对象", "补贴对象",
    "资助对象", "资助范围", "适用对象", "适用范围", "申报对象", "申报范围", "实施范围",
    "服务对象", "重点领域", "支持内容和方向",
)
# When a policy has no such section, this much of its text stands in for it.
FALLBACK_CHARS = 400

_CN_NUM = "一二三四五六七八九十百零〇"
# Heading enumerators by level: 第X条/一、 (1), （一） (2), 1. / 1、 (3), （1） (4).
_HEADINGS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (1, re.compile(rf"^\s*(第[{_CN_NUM}\d]+[条章节]|[{_CN_NUM}]+\s*[、.．])")),
    (2, re.compile(rf"^\s*[（(]\s*[{_CN_NUM}]+\s*[)）]")),
    (3, re.compile(r"^\s*\d+\s*[、.．](?!\d)")),
    (4, re.compile(r"^\s*[（(]\s*\d+\s*[)）]")),
)
_BRACKET_TITLE = re.compile(r"^\s*[【\[]([^】\]]{1,20})[】\]]")
_COLON_TITLE = re.compile(r"^\s*([^，。；：:,;]{2,16})[：:]")


def _heading_level(line: str) -> int | None:
    for level, pattern in _HEADINGS:
        if pattern.match(line):
            return level
    if _BRACKET_TITLE.match(line):
        return 1
    return None


def _is_target(line: str) -> bool:
    head = line[:30]
    return any(k in head for k in SECTION_KEYWORDS)


def support_sections(text: str) -> str:
    """The 支持对象/支持方向-style sections of a policy text, joined; '' if none.

    A section starts at a heading line that names one of :data:`SECTION_KEYWORDS` within
    its first characters (``一、支持对象``, ``（二）重点支持方向``, ``【申报对象】``,
    ``支持对象：…``) and runs until the next heading of the same or a higher level.
    """
    lines = [ln for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    out: list[str] = []
    open_level: int | None = None
    for line in lines:
        level = _heading_level(line)
        if open_level is not None and level is not None and level <= open_level:
            open_level = None
        if open_level is None and _is_target(line):
            colon = _COLON_TITLE.match(line)
            open_level = level if level is not None else (0 if colon else 1)
            out.append(line.strip())
            if level is None and colon:
                open_level = None  # an inline "支持对象：…" line is a section of its own
            continue
        if open_level is not None:
            out.append(line.strip())
    return "\n".join(out)


def _industry_terms(node: Condition | None, negated: bool = False) -> list[str]:
    """Industry prefixes that a tree requires positively (not under a ``not``)."""
    if node is None:
        return []
    if isinstance(node, Criterion):
        if node.field != "industry_code":
            return []
        positive = (node.op in ("in", "==")) != negated
        if not positive:
            return []
        return list(node.value) if isinstance(node.value, list) else [str(node.value)]
    if isinstance(node, Not):
        return _industry_terms(node.child, not negated)
    assert isinstance(node, AllOf | AnyOf)
    return [t for c in node.children for t in _industry_terms(c, negated)]


def industry_label(code: str | None, names: Mapping[str, str] | None) -> str:
    """Names of a GB/T 4754 code and of its division (C3491 → 工业机器人制造 通用设备制造业)."""
    if not code or not names:
        return ""
    parts = []
    for c in (code, code[:3]):
        name = names.get(c)
        if name and name not in parts:
            parts.append(name)
    return " ".join(parts)


def policy_text(policy: Policy, industry_names: Mapping[str, str] | None = None) -> str:
    """Title, support sections (or the start of the text) and targeted industry names."""
    sections = support_sections(policy.text) if policy.text else ""
    if not sections and policy.text:
        sections = policy.text[:FALLBACK_CHARS]
    codes = _industry_terms(policy.conditions)
    for pref in policy.preferences:
        codes.extend(_industry_terms(pref))
    names = [industry_label(c, industry_names) for c in dict.fromkeys(codes)]
    return "\n".join(p for p in (policy.title, sections, " ".join(n for n in names if n)) if p)


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


def firm_text(
    business_scope: Any, products: Any, industry_code: Any,
    industry_names: Mapping[str, str] | None = None,
) -> str:
    """经营范围, 主营产品 and the industry's name, one per line."""
    code = industry_code if isinstance(industry_code, str) else None
    parts = (_text(business_scope), _text(products), industry_label(code, industry_names))
    return "\n".join(p for p in parts if p)


def _column(frame: pd.DataFrame, name: str) -> Iterable[Any]:
    if name not in frame.columns:
        return [None] * len(frame)
    return frame[name].astype(object).where(frame[name].notna(), None).tolist()


def firm_texts(
    profiles: pd.DataFrame, industry_names: Mapping[str, str] | None = None
) -> list[str]:
    """:func:`firm_text` for every row of a profile frame (contract column names)."""
    return [
        firm_text(s, p, c, industry_names)
        for s, p, c in zip(
            _column(profiles, "business_scope"),
            _column(profiles, "products"),
            _column(profiles, "industry_code"),
            strict=True,
        )
    ]


def policy_texts(
    policies: Iterable[Policy], industry_names: Mapping[str, str] | None = None
) -> list[str]:
    return [policy_text(p, industry_names) for p in policies]
