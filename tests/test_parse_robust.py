"""Whatever the text, the parser returns a valid contract policy whose sources are in it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.policy import Policy
from policies.parse.parser import PolicyParser
from tests._parse_support import leaves

PARSER = PolicyParser()

FRAGMENTS = [
    "一、申报条件\n",
    "二、支持标准\n",
    "三、申报时间\n",
    "(一)",
    "(二)",
    "1.",
    "2、",
    "A、",
    "一是",
    "：",
    ":",
    "，",
    ",",
    "；",
    "。",
    "\n",
    "或",
    "且",
    "以及",
    "不再推荐",
    "除外",
    "对",
    "给予",
    "奖励",
    "分别",
    "营业收入",
    "2000万元",
    "以上",
    "以下",
    "不超过",
    "不低于",
    "(含)",
    "(不含)",
    "至",
    "5,000万元",
    "2亿元",
    "成立",
    "不满3年",
    "一年以上",
    "从业人员",
    "300人",
    "研发费用",
    "占营业收入比重",
    "3%",
    "百分之五",
    "高新技术企业",
    "专精特新“小巨人”企业",
    "省级",
    "第二批",
    "小微企业",
    "中小企业",
    "规模以上工业企业",
    "制造业",
    "湖南省",
    "长沙市",
    "在我市",
    "省内注册",
    "未被列入严重失信主体名单",
    "未发生重大安全事故",
    "纳税信用等级为B级及以上",
    "具有独立法人资格",
    "符合《中小企业划型标准规定》",
    "对照《认定办法》",
    "免申即享",
    "即申即享",
    "2024年5月1日",
    "至2024年5月31日",
    "前",
    "有效期3年",
    "《",
    "》",
    "(",
    ")",
    "发明专利",
    "软件著作权",
    "8件以上",
    "裁员率不高于5.5%",
    "失业保险费12个月以上",
    "最高不超过100万元",
    "标题：",
    "发布机关：",
    "日期：",
    "[…]",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=60))
def test_any_text_gives_a_valid_policy(parts: list[str]) -> None:
    text = "".join(parts)
    policy = PARSER.parse(text, "fuzz")
    Policy.from_json(policy)
    for leaf in leaves(policy["conditions"]):
        assert leaf["source"] in text
    for b in policy["benefits"]:
        assert b["source"] in text
    assert policy["mode"] in ("apply", "no_application", "instant")


def test_empty_and_header_only_texts() -> None:
    assert PARSER.parse("", "e")["conditions"] is None
    p = PARSER.parse("标题：某通知\n发布机关：长沙市科技局\n日期：2024-01-01\n", "h")
    assert (
        p["title"] == "某通知" and p["issuer"] == "长沙市科技局" and p["issued_on"] == "2024-01-01"
    )
    assert p["conditions"] is None


def test_nothing_expressible_is_kept_for_review() -> None:
    """A requirement no field can express is an unmapped leaf, never dropped."""
    p = PARSER.parse("一、申报条件\n企业已建立规范的财务管理制度。\n", "u")
    assert p["conditions"] == {
        "field": "unmapped",
        "op": "review",
        "value": None,
        "source": "企业已建立规范的财务管理制度",
    }
