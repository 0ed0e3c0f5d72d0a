"""One requirement sentence → the leaf it states: every field the parser reads, and the
wordings that must *not* become a leaf of that field."""

from __future__ import annotations

import pickle

import pytest

from policies.parse.parser import PolicyParser
from tests._parse_support import leaves

PARSER = PolicyParser()


def _read(sentence: str, issuer: str = "长沙市科学技术局") -> list[tuple]:
    text = f"标题：测试\n发布机关：{issuer}\n日期：2024-01-01\n\n一、申报条件\n{sentence}。\n"
    cond = PARSER.parse(text, "t")["conditions"]
    return [
        (lf["field"], lf["op"], lf["value"]) for lf in leaves(cond) if lf["field"] != "region_code"
    ]


CASES = [
    ("企业注册资本不低于500万元", ("registered_capital", ">=", 5_000_000)),
    ("上年度纳税总额100万元以上", ("tax_paid", ">=", 1_000_000)),
    ("上年度营业收入超过2亿元", ("revenue", ">", 200_000_000)),
    ("资产总额不超过5000万元", ("total_assets", "<=", 50_000_000)),
    ("上年度研发费用不低于300万元", ("rd_expense", ">=", 3_000_000)),
    ("上年度新增研发投入不低于100万元", ("rd_increase", ">=", 1_000_000)),
    ("研发投入占营业收入的比例不低于百分之五", ("rd_ratio", ">=", 0.05)),
    ("研发人员占职工总数的比例不低于15%", ("rd_staff_ratio", ">=", 0.15)),
    ("高新技术产品(服务)收入占总收入的比例不低于60%", ("high_tech_revenue_ratio", ">=", 0.6)),
    ("拥有授权发明专利3件以上", ("invention_patents", ">=", 3)),
    ("拥有实用新型专利10件以上", ("utility_patents", ">=", 10)),
    ("拥有软件著作权5项以上", ("software_copyrights", ">=", 5)),
    ("连续足额缴纳失业保险费满6个月", ("unemployment_insurance_months", ">=", 6)),
    ("上年度裁员率不高于5.5%", ("layoff_rate", "<=", 0.055)),
    ("从业人员不少于50人", ("employees", ">=", 50)),
    ("企业成立满三周年", ("age_years", ">=", 3)),
    ("企业成立不满五年", ("age_years", "<", 5)),
    ("纳税信用等级为B级及以上", ("tax_credit_rating", ">=", "B")),
    ("纳税信用评价为A级或B级", ("tax_credit_rating", "in", ["A", "B"])),
    ("属于规模以上企业", ("above_scale", "==", True)),
    ("属于中小企业", ("size_class", "in", ["micro", "small", "medium"])),
    ("属于小微企业", ("size_class", "in", ["micro", "small"])),
    ("属于软件和信息技术服务业", ("industry_code", "in", ["I65"])),
    ("属于制造业企业", ("industry_code", "in", ["C"])),
    ("房地产、金融类企业不得申报", ("industry_code", "not_in", ["K", "J"])),
    ("已认定为高新技术企业", ("qualifications", "has", "高新技术企业")),
    ("未被认定为高新技术企业", ("qualifications", "not_has", "高新技术企业")),
    ("为省级专精特新“小巨人”企业", ("qualifications", "has", "专精特新中小企业")),
    ("为国家级专精特新“小巨人”企业", ("qualifications", "has", "专精特新小巨人企业")),
    ("为科技型中小企业", ("qualifications", "has", "科技型中小企业")),
    ("未被列入严重失信主体名单", ("serious_dishonesty", "==", False)),
    ("近三年未发生重大安全、环保、质量事故", ("major_accident_3y", "==", False)),
    ("在境内外证券交易所上市的企业", ("listed", "==", True)),
]


@pytest.mark.parametrize(("sentence", "leaf"), CASES, ids=[c[0] for c in CASES])
def test_sentence_to_leaf(sentence: str, leaf: tuple) -> None:
    assert leaf in _read(sentence)


@pytest.mark.parametrize(
    ("sentence", "not_field"),
    [
        ("从事特定细分市场时间达到2年以上", "age_years"),  # not the firm's age
        ("与其签订1年以上劳动合同", "age_years"),
        ("年出口额达到1000万美元以上", "export_value"),  # dollars are not yuan
        ("近两年研发费用总额均值在1000万元以上", "rd_expense"),  # an average, not last year's
        ("近三年营业收入年均增长率不低于20%", "revenue"),  # growth, not revenue
        ("科技型中小企业享受研发费用加计扣除政策", "size_class"),  # 中小企业 inside a name
        ("近三年进入“创客中国”中小企业创新创业大赛500强", "size_class"),
        ("企业所得税年度应纳税所得额不超过300万元", "tax_paid"),
        ("已列入单项冠军产品名单的企业", "qualifications"),
    ],
)
def test_what_is_not_that_field(sentence: str, not_field: str) -> None:
    got = _read(sentence)
    assert not any(f == not_field for f, _, _ in got), got
    assert got, "the requirement is still kept (as unmapped)"


@pytest.mark.parametrize(
    ("sentence", "code"),
    [
        ("在湖南省行政区域内注册", "43"),
        ("省内注册的企业", "43"),
        ("在湘注册的企业", "43"),
        ("在我市注册登记的企业", "4301"),
        ("在长沙市雨花区注册纳税", "430111"),
        ("注册地在广东省深圳市南山区", "440305"),
    ],
)
def test_regions(sentence: str, code: str) -> None:
    text = (
        f"标题：测试\n发布机关：长沙市科学技术局\n日期：2024-01-01\n\n一、申报条件\n{sentence}。\n"
    )
    got = [
        lf["value"]
        for lf in leaves(PARSER.parse(text, "t")["conditions"])
        if lf["field"] == "region_code"
    ]
    assert [code] in got, got


def test_national_issuer_has_no_region() -> None:
    text = (
        "标题：测试\n发布机关：财政部 税务总局\n日期：2024-01-01\n\n一、享受条件\n属于小微企业。\n"
    )
    assert all(lf["field"] != "region_code" for lf in leaves(PARSER.parse(text, "t")["conditions"]))


def test_parser_pickles() -> None:
    text = "一、申报条件\n上年度营业收入2000万元以上。\n"
    clone = pickle.loads(pickle.dumps(PARSER))
    assert clone.parse(text, "p") == PARSER.parse(text, "p")
