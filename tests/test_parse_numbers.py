"""Numbers and bounds of policy text: units, Chinese numerals, the legal bound table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.parse.bounds import AFTER, BEFORE, bound_of, range_of
from policies.parse.numbers import cn_to_int, find_quantities, int_to_cn, parse_number
from policies.parse.parser import PolicyParser

PARSER = PolicyParser()


def _leaves(node):
    if node is None:
        return []
    if "field" in node:
        return [node]
    return [lf for k in ("all", "any") for c in node.get(k, []) for lf in _leaves(c)]


def _rule(sentence: str) -> list[dict]:
    """Leaves of a one-rule policy (an eligibility section with one sentence)."""
    text = f"一、申报条件\n{sentence}。\n"
    return _leaves(PARSER.parse(text, "t")["conditions"])


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("5,000万元", 50_000_000, "yuan"),
        ("2亿元", 200_000_000, "yuan"),
        ("两千万元", 20_000_000, "yuan"),
        ("1.5万元", 15_000, "yuan"),
        ("6000 万元", 60_000_000, "yuan"),
        ("300元", 300, "yuan"),
        ("百分之三", 0.03, "fraction"),
        ("3%", 0.03, "fraction"),
        ("3‰", 0.003, "fraction"),
        ("5.5%", 0.055, "fraction"),
        ("三年", 3, "years"),
        ("12个月", 12, "months"),
        ("300人", 300, "persons"),
        ("8件", 8, "items"),
    ],
)
def test_quantities_in_contract_units(text: str, value: float, unit: str) -> None:
    (q,) = find_quantities(text)
    assert q.unit == unit
    assert q.value == pytest.approx(value)


def test_chinese_numerals() -> None:
    assert cn_to_int("三") == 3
    assert cn_to_int("十二") == 12
    assert cn_to_int("一百零二") == 102
    assert cn_to_int("两千万") == 20_000_000
    assert cn_to_int("三亿五千万") == 350_000_000
    assert cn_to_int("二〇二三") == 2023
    assert parse_number("5,000") == 5000
    with pytest.raises(ValueError):
        cn_to_int("三年")


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_chinese_numerals_round_trip(n: int) -> None:
    assert cn_to_int(int_to_cn(n)) == n


@given(st.integers(min_value=0, max_value=1000))
def test_percent_forms_agree(k: int) -> None:
    (a,) = find_quantities(f"{k}%")
    (b,) = find_quantities(f"百分之{int_to_cn(k)}")
    assert a.value == pytest.approx(k / 100) == pytest.approx(b.value)


@pytest.mark.parametrize(("word", "op"), sorted(BEFORE.items()))
def test_every_before_word(word: str, op: str) -> None:
    if word == "满":
        text = "成立满3年"
    else:
        text = f"营业收入{word}3000万元"
    q = [q for q in find_quantities(text) if q.unit in ("yuan", "years")][0]
    assert bound_of(text, q).op == op


@pytest.mark.parametrize(("word", "op"), sorted(AFTER.items()))
def test_every_after_word(word: str, op: str) -> None:
    text = f"营业收入3000万元{word}"
    (q,) = find_quantities(text)
    assert bound_of(text, q).op == op


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("小于5000万元(含)", "<="),  # (含) makes a strict bound inclusive
        ("5000万元以上(不含)", ">"),  # (不含) makes an inclusive bound strict
        ("30人(含)以下", "<="),
        ("超过300人", ">"),  # 超过 excludes (DATA.md §3)
        ("不满3年", "<"),
        ("三年届满", ">="),
    ],
)
def test_legal_convention(text: str, op: str) -> None:
    (q,) = find_quantities(text)
    assert bound_of(text, q).op == op


def test_range_bounds() -> None:
    text = "销售收入在5,000万元至2亿元(含)的企业"
    q = [q for q in find_quantities(text) if q.unit == "yuan"]
    low, high = range_of(text, q[0], q[1])
    assert (low.op, low.value, high.op, high.value) == (">=", 50_000_000, "<=", 200_000_000)


money = st.one_of(
    st.integers(min_value=1, max_value=500_000),
    st.decimals(min_value=1, max_value=9999, places=1).map(float),
)


@given(money, st.sampled_from(["营业收入", "上年度营业收入", "年销售收入"]))
def test_every_wan_yuan_yishang_is_at_least(n: float, metric: str) -> None:
    """Every ``N万元以上`` gives ``>= N*10000`` (以上 includes the number)."""
    shown = f"{n:g}" if isinstance(n, float) else str(n)
    (leaf,) = [lf for lf in _rule(f"{metric}{shown}万元以上") if lf["field"] == "revenue"]
    assert leaf["op"] == ">="
    assert leaf["value"] == pytest.approx(float(shown) * 10_000)


@given(st.integers(min_value=1, max_value=9999))
def test_chinese_wan_yuan_yishang(n: int) -> None:
    (leaf,) = [
        lf for lf in _rule(f"上年度营业收入{int_to_cn(n)}万元以上") if lf["field"] == "revenue"
    ]
    assert (leaf["op"], leaf["value"]) == (">=", n * 10_000)


@given(st.integers(min_value=1, max_value=60), st.booleans())
def test_every_buman_n_nian_is_strict(n: int, chinese: bool) -> None:
    """Every ``不满N年`` gives ``age_years < N`` (不满 excludes the number)."""
    shown = int_to_cn(n) if chinese else str(n)
    (leaf,) = [lf for lf in _rule(f"企业成立不满{shown}年") if lf["field"] == "age_years"]
    assert (leaf["op"], leaf["value"]) == ("<", n)


@given(st.integers(min_value=1, max_value=5000))
def test_chaoguo_excludes_and_yixia_includes(n: int) -> None:
    more = [lf for lf in _rule(f"从业人员超过{n}人") if lf["field"] == "employees"]
    less = [lf for lf in _rule(f"从业人员{n}人以下") if lf["field"] == "employees"]
    assert (more[0]["op"], more[0]["value"]) == (">", n)
    assert (less[0]["op"], less[0]["value"]) == ("<=", n)
