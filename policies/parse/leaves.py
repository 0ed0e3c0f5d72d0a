"""One clause of policy text → the condition leaves it states.

A clause such as 上年度营业收入2000万元以上 names a *metric* (营业收入) and a *bound*
(2000万元以上 → ``>= 20000000``); the metric decides the contract field, the bound comes
from :mod:`policies.parse.bounds`. Other clauses name a status: a qualification
(高新技术企业), a size class (小微企业), 规模以上, an industry, the place of registration,
an exclusion (未被列入严重失信主体名单, 未发生重大安全事故). What no field can express but is
still required (具有独立法人资格, 无历史欠费, a metric the profile lacks such as
应纳税所得额) becomes an ``unmapped`` leaf, never nothing.

Everything here reads the *masked* text (brackets and 《》 emptied, see
:mod:`policies.parse.clauses`) and returns spans of the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from policies.parse.bounds import Bound, bound_of, range_of
from policies.parse.clauses import FILL, Span
from policies.parse.industries import LISTED_ONLY, NOT_INDUSTRY, industry_lexicon
from policies.parse.numbers import Quantity, find_quantities
from policies.parse.qualifications import find_qualifications
from policies.parse.regions import (
    PROVINCE_ABBREVIATIONS,
    deictic_level,
    find_regions,
    resolve_deictic,
)
from policies.parse.tokenizer import TokenBoundaries
from policies.parse.tree import Group, Leaf, Node, make

# ---------------------------------------------------------------- metrics of numbers

_BENEFIT_WORDS = re.compile(r"给予|奖励|补助|补贴|资助|扶持资金|贷款|额度|最高|贴息|返还|奖补|扶持")
_AVERAGE = re.compile(r"均值|平均|累计|合计|年均|总和")
_GROWTH = re.compile(r"增长|增幅|增速|同比|较上年|比上年|增加额|增量")
_RD = r"(?:研发|研究开发|科研|R&D)"
_RATIO_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rd_staff_ratio",
     re.compile(r"(?:科技|研发|研究开发|技术)人员.*占.*(?:职工|员工|从业人员|人数)")),
    ("high_tech_revenue_ratio", re.compile(r"高新技术产品.*收入.*占|高新技术产品.*收入.*比")),
    ("rd_ratio",
     re.compile(rf"{_RD}.{{0,4}}(?:费用|投入|经费|支出).*占.*(?:收入|营收|销售额)|{_RD}投入强度")),
    ("layoff_rate", re.compile(r"裁员率|裁员.{0,6}(?:比例|比率)")),
)
_MONEY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("unmapped", re.compile(
        r"应纳税所得额|所得额|融资|财政贡献|贡献额|地方贡献|投资额|固定资产投资|利润|产值|税额")),
    ("rd_increase", re.compile(
        rf"新增{_RD}.{{0,4}}(?:投入|费用|经费)|"
        rf"{_RD}.{{0,4}}(?:投入|费用).{{0,2}}(?:增量|增加额|新增额)")),
    ("rd_expense", re.compile(rf"{_RD}.{{0,4}}(?:费用|投入|经费|支出)")),
    ("revenue", re.compile(r"营业收入|销售收入|主营业务收入|经营收入|营业额|销售额|营收|年收入")),
    ("total_assets", re.compile(r"资产总额|总资产|资产规模")),
    ("registered_capital", re.compile(r"注册资本|注册资金")),
    ("export_value", re.compile(r"出口(?:额|总额|交货值)")),
    ("tax_paid", re.compile(r"纳税总额|纳税额|缴纳税收|缴税|税收|实缴税金|上缴税金|纳税")),
)
_EMPLOYEE = re.compile(
    r"从业人员|从业人数|职工人数|职工总数|员工人数|员工总数|在职职工|在岗职工|用工人数|"
    r"人数|职工|员工"
)
_EMPLOYEE_AFTER = re.compile(
    r"^\s*(?:[（(](?:不)?含[)）])?\s*(?:及|或)?(?:以上|以下|以内)?\s*(?:[（(](?:不)?含[)）])?"
    r"\s*的?(?:参保)?(?:企业|单位|中小企业|小微企业)"
)
_AGE = re.compile(r"成立|注册|设立|登记|开业|创办|存续|经营年限|经营期")
_UI = re.compile(r"失业保险")
_IP_SPLIT = re.compile(r"、|或者|或")
_IP_FIELDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("invention_patents", re.compile(r"发明专利")),
    ("utility_patents", re.compile(r"实用新型")),
    ("software_copyrights", re.compile(r"软件著作权|软件著作|计算机软件著作权|软著")),
)
_RATIO_WORDS = re.compile(r"^(?:的)?(?:比例|比重|占比|比率)")


@dataclass
class Finding:
    """Leaves found in a clause and the spans they used up (the rest is residual text)."""

    nodes: list[Node] = field(default_factory=list)
    used: list[tuple[int, int]] = field(default_factory=list)
    metric: str | None = None  # the last metric named (for a later bare 比例)


@dataclass(frozen=True)
class ReadContext:
    """What a clause needs from the whole document to be read."""

    text: str
    masked: str
    tokens: TokenBoundaries
    issuer_regions: tuple[str, ...] = ()
    ratio_metric: str | None = None
    award: bool = False


def _aligned(ctx: ReadContext, s: int, e: int, loose_end: bool = False) -> bool:
    """A match is a word of its own only if jieba put token boundaries at both ends."""
    if not ctx.tokens.is_start(s):
        return False
    if ctx.tokens.is_end(e):
        return True
    return loose_end


def numeric_findings(ctx: ReadContext, span: Span, inherited: str | None,
                     previous: str | None = None) -> Finding:
    """Metric-and-bound leaves of a clause (营业收入2000万元以上, 比例不低于5%, 1件以上)."""
    m = ctx.masked
    out = Finding()
    qs = [
        Quantity(q.value, q.unit, q.start + span.start, q.end + span.start, q.text)
        for q in find_quantities(m[span.start:span.end])
    ]
    # calendar years (2023年) are dates, not quantities
    qs = [q for q in qs if not (q.unit == "years" and q.value >= 1900)]
    prev_end = span.start
    last: tuple[str, str] | None = None  # (field, unit) of the bound just read
    i = 0
    while i < len(qs):
        q = qs[i]
        bounds: list[Bound] = []
        nxt = qs[i + 1] if i + 1 < len(qs) else None
        rng = range_of(m, q, nxt) if nxt is not None and nxt.unit == q.unit else None
        if rng is not None:
            bounds = list(rng)
            i += 2
        else:
            b = bound_of(m, q)
            i += 1
            if b is None:
                prev_end = max(prev_end, q.end)
                last = None
                continue
            bounds = [b]
        first = bounds[0]
        window_start = prev_end
        window = m[window_start:first.start]
        after = m[bounds[-1].end:min(span.end, bounds[-1].end + 16)]
        prev_end = bounds[-1].end
        if _BENEFIT_WORDS.search(window[-8:]) and q.unit in ("yuan", "fraction"):
            last = None
            continue  # 给予最高不超过100万元: an amount paid, not a condition
        field_name = _metric(window, after, q.unit, inherited, previous)
        if (field_name == "unmapped" and last is not None and last[1] == q.unit
                and _ELIDED_JOIN.fullmatch(window.replace(FILL, ""))):
            # 营业收入超过500万元、不满2亿元 / 从业人员20人以上300人以下: the second
            # bound's metric is elided; it is the same metric as the bound just before.
            field_name = last[0]
            window_start = first.start  # the source is the bound itself (不满2亿元)
        last = None
        if field_name == "ip":
            ip_start = _metric_start(m, window_start, first.start)
            node = _ip_leaves(m, ip_start, first, bounds)
            if node is not None:
                out.nodes.append(node)
                out.used.append((ip_start, bounds[-1].end))
            continue
        if field_name is None:
            continue
        src_start = _metric_start(m, window_start, first.start)
        if field_name == "unmapped":
            out.nodes.append(Leaf("unmapped", "review", None, src_start, bounds[-1].end))
        else:
            for j, b in enumerate(bounds):
                value = b.value
                if field_name == "age_years" and q.unit == "months":
                    value = round(value / 12, 4)
                out.nodes.append(Leaf(field_name, b.op, value, src_start, bounds[-1].end,
                                      from_range=(rng is not None and j == 0)))
            last = (field_name, q.unit)
            if field_name in ("rd_expense", "rd_ratio", "revenue", "rd_staff_ratio",
                              "high_tech_revenue_ratio", "layoff_rate"):
                out.metric = field_name
        out.used.append((src_start, bounds[-1].end))
    return out


# What may stand between two bounds on one metric whose second subject is elided. With 或
# (超过1亿元或不满500万元) the clause's own 或 reading makes the two leaves alternatives.
_ELIDED_JOIN = re.compile(r"[\s、，,]*(?:且|并且|但|而|或|或者)?[\s、，,]*")


def _metric_start(m: str, start: int, end: int) -> int:
    """Where the metric phrase begins: after connectives and fillers at the window start."""
    s = start
    while s < end and (m[s] in " ,，、;；:：" + FILL or m[s] in "且并及和或"):
        s += 1
    return s if s < end else start


def _metric(window: str, after: str, unit: str, inherited: str | None,
            previous: str | None = None) -> str | None:
    """The contract field a bounded number measures, ``unmapped``, ``ip``, or None.

    ``inherited`` is the ratio a list header named (研究开发费用占销售收入的比例符合如下
    要求: 1. …比例不低于5%); ``previous`` the metric of the clause before (研发费用不低于
    100万元,且占营业收入比重不低于3% → the 3% is R&D over revenue).
    """
    w = window.replace(FILL, "")
    if unit == "fraction":
        for name, rx in _RATIO_RULES:
            if rx.search(w):
                return name
        bare = re.sub(r"^[且并及和或其中,，\s]+", "", w)
        over_revenue = re.match(r"^占[^,，]{0,12}(?:收入|营收)", bare)
        if previous in ("rd_expense", "rd_ratio") and over_revenue:
            return "rd_ratio"
        if inherited and (not bare or _RATIO_WORDS.match(bare)):
            return inherited
        if _GROWTH.search(w) or w.strip():
            return "unmapped"
        return None
    if unit == "yuan":
        if _AVERAGE.search(w):
            return "unmapped"
        for name, rx in _MONEY_RULES:
            mm = rx.search(w)
            if mm:
                if name != "rd_increase" and _GROWTH.search(w[mm.end():]):
                    return "unmapped"
                return name
        return "unmapped" if w.strip() else None
    if unit == "persons":
        if _EMPLOYEE.search(w) and not re.search(r"招用|招聘|吸纳|带动|新增|安置|人才", w):
            return "employees"
        if _EMPLOYEE_AFTER.match(after) and not re.search(r"招用|招聘|吸纳|带动|新增|安置|人才", w):
            return "employees"
        return "unmapped"
    if unit == "years":
        if _AGE.search(w) and not re.search(r"合同|许可|期限|贷款|服务|聘用|工作", w):
            return "age_years"
        return "unmapped"
    if unit == "months":
        if _UI.search(w):
            return "unemployment_insurance_months"
        if _AGE.search(w) and not re.search(r"合同|许可|期限|贷款", w):
            return "age_years"
        return "unmapped"
    if unit == "items":
        if any(rx.search(w) for _, rx in _IP_FIELDS) or re.search(r"专利|著作权|品种|专有权", w):
            return "ip"
        return "unmapped"
    return "unmapped"


def _ip_leaves(m: str, start: int, first: Bound, bounds: list[Bound]) -> Node | None:
    """发明专利、植物新品种…1件以上 → invention_patents >= 1 or one unmapped for the rest."""
    window = m[start:first.start]
    pieces: list[tuple[int, int]] = []
    s = 0
    for mm in _IP_SPLIT.finditer(window):
        pieces.append((s, mm.start()))
        s = mm.end()
    pieces.append((s, len(window)))
    mapped: list[Node] = []
    unmapped_start: int | None = None
    end = bounds[-1].end
    for ps, pe in pieces:
        name = window[ps:pe].replace(FILL, "").strip(" ,，;；:：")
        if not name:
            continue
        fname = next((f for f, rx in _IP_FIELDS if rx.search(name)), None)
        abs_s = start + ps + (len(window[ps:pe]) - len(window[ps:pe].lstrip(" ,，;；:：" + FILL)))
        if fname is None:
            if unmapped_start is None:
                unmapped_start = abs_s
            continue
        for b in bounds:
            mapped.append(Leaf(fname, b.op, b.value, abs_s, end))
    nodes = list(mapped)
    if unmapped_start is not None:
        nodes.append(Leaf("unmapped", "review", None, unmapped_start, end))
    return make("any", nodes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- statuses

_SIZE_WORDS: tuple[tuple[str, list[str]], ...] = (
    ("中小微型企业", ["micro", "small", "medium"]),
    ("中小微企业", ["micro", "small", "medium"]),
    ("中小型企业", ["micro", "small", "medium"]),
    ("中小企业", ["micro", "small", "medium"]),
    ("小型微型企业", ["micro", "small"]),
    ("小微型企业", ["micro", "small"]),
    ("小微企业", ["micro", "small"]),
    ("大中型企业", ["medium", "large"]),
    ("大型企业", ["large"]),
    ("中型企业", ["medium"]),
    ("小型企业", ["small"]),
    ("微型企业", ["micro"]),
)
_SIZE_RE = re.compile("|".join(w for w, _ in _SIZE_WORDS))
_SIZE_VALUES = dict(_SIZE_WORDS)
_ALL_SIZES = ["micro", "small", "medium", "large"]
_SIZE_NOT_AFTER = re.compile(
    r"^(?:大赛|竞赛|发展|促进|服务|局|划型|梯度|公共|创新创业|专项|培育|认定|名录|库|信息)"
)
_NEG_BEFORE = re.compile(
    r"(?:未|不|非|无|没有)(?:被|曾|再)?"
    r"(?:认定为|列为|列入|纳入|属于|是|为|存在|发生|有)?[^,，]{0,10}$"
)
_QUAL_SKIP_BEFORE = re.compile(
    r"(?:申请|申报|推荐|争创|创建|培育|入选|冲刺|打造|争取)(?:为|成为)?"
    r"(?:工信部|国家级|省级|第[一二三四五六七八九十\d]+批|[\s" + FILL + r"])*$"
)
_QUAL_SKIP_AFTER = re.compile(
    r"^(?:[”\"])?(?:有关认定|认定标准|认定条件|标准|条件|认定管理|认定工作|认定办法|认定申请|"
    r"申请材料|培育|梯度|申报|复核工作|评价)"
)
_QUAL_EXPIRED_AFTER = re.compile(r"^(?:有效期满|期满|到期|资格到期|有效期已满)")
_QUAL_RESTRICT = re.compile(
    r"(第[一二三四五六七八九十\d]+批|\d{4}年(?:[、和至\-—]\s*\d{4}年)*(?:度)?"
    r"(?:认定|复核|评定|认定和复核|公布|公告)+的?)[^,，]{0,12}$"
)
_DISHONEST = re.compile(
    r"(?:严重)?失信(?:主体|被执行人|企业|联合惩戒对象)?(?:名单|行为|记录)?|(?:经营)?黑名单"
)
_ACCIDENT = re.compile(r"事故")
_ACCIDENT_NEG = re.compile(
    r"未发生|没有发生|未出现|无(?=重大|较大|一般|安全|质量|环境|生产|特大)|不得发生|未曾发生"
)
_ABOVE_SCALE = re.compile(r"规模以上|规上")
_BELOW_SCALE = re.compile(r"规模以下")
_LISTED = re.compile(r"(?<!拟)(?<!后备)上市的?(?:企业|公司)")
_UNLISTED = re.compile(r"未上市|非上市|拟上市")
_TAX_RATING = re.compile(
    r"纳税信用(?:等级|评价|级别)?(?:为|达到|是|在|评定为|评价为)?\s*([ABMCDＡＢＭＣＤ])\s*级?"
    r"(?:(?:及|或)?(以上))?|([ABMＡＢＭ])级纳税人"
)
_MORE_GRADES = re.compile(r"(?:\s*(?:或|、|和|及)\s*[ABMCDＡＢＭＣＤ]\s*级?)+")
_RD_POSITIVE = re.compile(
    rf"(?:开展|进行|投入)[^,，。]{{0,8}}{_RD}活动|"
    rf"(?:先行)?投入[^,，。]{{0,4}}(?:开展)?{_RD}(?!人员)|"
    rf"有{_RD}(?:投入|费用|活动|支出)"
)
_UI_POSITIVE = re.compile(r"参加失业保险|参保失业保险|缴纳失业保险费?")
_REGISTRATION_AFTER = re.compile(
    r"^(?:省|市|区|县)?\s*(?:行政区域|区域|辖区|范围|境)?\s*内?\s*[^,，。;；]{0,6}?"
    r"(?:注册|登记|设立|成立|参加|参保|落户|纳税|缴纳|生产经营|经营|创业|投资)")
_DEICTIC = re.compile(r"(?:我|本)(省|市|区|县)|(?<![园城社校厂景])(省|市)(?=内)")
_ABBREV = re.compile(
    "在(" + "|".join(PROVINCE_ABBREVIATIONS) + r")(?=注册|登记|设立|落户|投资|纳税|企业|的|[,，])"
)
_INCORPORATION = re.compile(r"(?:符合|对照|满足|达到|参照|执行)\s*《([^》]*)》")
_BY_REFERENCE = re.compile(
    r"条件[^,，。]{0,6}(?:见|详见|参见)|(?:详见|参见)[^,，。]{0,12}(?:附件|文件|通知)"
)

# Requirements that no field expresses; residual text of a clause that matches one of
# these is kept as an unmapped leaf.
UNMAPPED_CUES = re.compile(
    r"一般纳税人|小规模纳税人|独立法人|法人资格|法定代表人|负责人属于|经营异常|异常名录|"
    r"禁止|限制类|淘汰|欠费|欠税|欠缴|偷漏税|偷税|逃税|骗税|违法|违规|犯罪|研发准备金|"
    r"准备金制度|加计扣除|享受[^,，]{0,12}政策|知识产权|股权融资|评价|得分|评分|排名|"
    r"控股|同一集团|关联关系|属于[^,，]{0,30}(?:范围|目录|领域)|独占许可|信用记录|"
    r"招用|吸纳|劳动合同|社会保险费|细分市场|资质|许可证|备案|建有|"
    r"建立[^,，]{0,10}(?:制度|体系|机构|平台)|"
    r"研发机构|研发平台|主导产品|核心技术|推荐|产品[^,，]{0,6}属于|人才范围|纳入统计|统计库|"
    r"无历史|对公账户|获得过|获奖"
)


def status_findings(ctx: ReadContext, span: Span) -> Finding:
    """Qualification, size, scale, industry, listing, exclusions, region, rating leaves."""
    m, t = ctx.masked, ctx.text
    s0, e0 = span.start, span.end
    seg = m[s0:e0]
    out = Finding()

    # qualifications (高新技术企业, 专精特新“小巨人”, and names outside the vocabulary)
    for q in find_qualifications(seg):
        qs, qe = s0 + q.start, s0 + q.end
        before, after = m[s0:qs], m[qe:e0]
        if _QUAL_SKIP_AFTER.match(after) or _QUAL_SKIP_BEFORE.search(before):
            out.used.append((qs, qe))
            continue
        if "与" in before[-14:] and re.search(r"关系|关联|控股", after):
            continue
        if _QUAL_EXPIRED_AFTER.match(after):
            out.used.append((qs, qe + len(_QUAL_EXPIRED_AFTER.match(after).group(0))))  # type: ignore[union-attr]
            continue
        negative = (bool(_NEG_BEFORE.search(before[-12:]))
                    and not re.search(r"有效期内", before[-12:]))
        if q.canonical is None:
            out.nodes.append(Leaf("unmapped", "review", None, qs, qe, key=q.key))
        else:
            out.nodes.append(Leaf("qualifications", "not_has" if negative else "has",
                                  q.canonical, qs, qe))
            r = _QUAL_RESTRICT.search(before)
            if r and not ctx.award:
                out.nodes.append(Leaf("unmapped", "review", None, s0 + r.start(1), qe))
        out.used.append((qs, qe))

    # size classes (token-aligned: 中小企业 is not read inside 科技型中小企业)
    taken = list(out.used)
    for mm in _SIZE_RE.finditer(seg):
        s, e = s0 + mm.start(), s0 + mm.end()
        if any(a <= s < b or a < e <= b for a, b in taken):
            continue
        if not _aligned(ctx, s, e, loose_end=True):
            continue
        if m[s - 1:s] in "”\"" or _SIZE_NOT_AFTER.match(m[e:e0]):
            continue
        values = list(_SIZE_VALUES[mm.group(0)])
        before = m[s0:s]
        if re.search(r"(?:非|不含|不包括|除)$", before):
            values = [v for v in _ALL_SIZES if v not in values]
        out.nodes.append(Leaf("size_class", "in", values, s, e))
        out.used.append((s, e))

    for mm in _ABOVE_SCALE.finditer(seg):
        s, e = s0 + mm.start(), s0 + mm.end()
        if re.match(r"^的?(?:标准|口径)", m[e:e0]):
            continue
        end = e
        nxt = re.match(r"(?:工业)?企业|企业", m[e:e0])
        if nxt:
            end = e + nxt.end()
        out.nodes.append(Leaf("above_scale", "==", True, s, end))
        out.used.append((s, end))
        if re.match(r"工业", m[e:e0]) or m[s:e] == "规上" and m[e:e + 2] == "工业":
            # 规模以上工业企业: industrial (采矿, 制造, 电热燃水: GB/T 4754 B, C, D) as well
            out.nodes.append(Leaf("industry_code", "in", ["B", "C", "D"], s, end))
    for mm in _BELOW_SCALE.finditer(seg):
        out.nodes.append(Leaf("above_scale", "==", False, s0 + mm.start(), s0 + mm.end()))
        out.used.append((s0 + mm.start(), s0 + mm.end()))

    ind = _industry_leaf(ctx, span, out.used)
    if ind is not None:
        out.nodes.append(ind)
        out.used.append((ind.start, ind.end))

    for mm in _UNLISTED.finditer(seg):
        out.nodes.append(Leaf("listed", "==", False, s0 + mm.start(), s0 + mm.end()))
        out.used.append((s0 + mm.start(), s0 + mm.end()))
    if not _UNLISTED.search(seg):
        for mm in _LISTED.finditer(seg):
            s, e = s0 + mm.start(), s0 + mm.end()
            if any(a <= s < b for a, b in out.used):
                continue
            neg = bool(re.search(r"(?:未|非|不是)$", m[s0:s]))
            out.nodes.append(Leaf("listed", "==", not neg, s, e))
            out.used.append((s, e))

    for mm in _DISHONEST.finditer(seg):
        s, e = s0 + mm.start(), s0 + mm.end()
        neg = bool(re.search(r"未|无|不|没有|非", m[s0:s]))
        out.nodes.append(Leaf("serious_dishonesty", "==", not neg, s, e))
        out.used.append((s, e))
        break

    acc = _ACCIDENT.search(seg)
    if acc:
        negm = None
        for nm in _ACCIDENT_NEG.finditer(seg, 0, acc.start()):
            negm = nm
        a_start = s0 + (negm.start() if negm else _phrase_start(seg, acc.start()))
        stop = re.search(r"以及|;|；", seg[acc.end():])
        a_end = s0 + acc.end() + (stop.start() if stop else len(seg) - acc.end())
        a_end = _trim_end(m, a_start, a_end)
        out.nodes.append(Leaf("major_accident_3y", "==", negm is None, a_start, a_end))
        out.used.append((a_start, a_end))

    for mm in _TAX_RATING.finditer(seg):
        grade = unicodedata.normalize("NFKC", mm.group(1) or mm.group(3))
        end = mm.end()
        more = _MORE_GRADES.match(seg, end) if not mm.group(2) else None
        if more:
            # A级或B级 / A、B级: a list of ratings
            grades = [grade, *(unicodedata.normalize("NFKC", g) for g in re.findall(
                r"[ABMCDＡＢＭＣＤ]", more.group(0)))]
            end = more.end()
            out.nodes.append(Leaf("tax_credit_rating", "in", sorted(set(grades)), s0 + mm.start(),
                                  s0 + end))
        else:
            op = ">=" if mm.group(2) else "=="
            out.nodes.append(Leaf("tax_credit_rating", op, grade, s0 + mm.start(), s0 + end))
        out.used.append((s0 + mm.start(), s0 + end))

    has_money = any(q.unit == "yuan" for q in find_quantities(seg))
    has_months = any(q.unit == "months" for q in find_quantities(seg))
    rd = _RD_POSITIVE.search(seg)
    has_ratio = any(q.unit == "fraction" for q in find_quantities(seg))
    of_staff = re.search(r"人员", seg[rd.end():rd.end() + 12]) if rd else None
    if rd and not has_money and not has_ratio and not of_staff:
        out.nodes.append(Leaf("rd_expense", ">", 0, *_clause_bounds(m, s0, e0)))
        out.used.append((s0 + rd.start(), s0 + rd.end()))
    ui = _UI_POSITIVE.search(seg)
    if ui and not has_months:
        out.nodes.append(Leaf("unemployment_insurance_months", ">", 0, s0 + ui.start(),
                              _trim_end(m, s0 + ui.start(), min(e0, s0 + ui.end() + 2))))
        out.used.append((s0 + ui.start(), s0 + ui.end()))

    out.nodes.extend(region_leaves(ctx, span, out.used))

    # incorporation by reference: 符合《…认定标准》, 对照《认定办法》进行自我评价
    for mm in _INCORPORATION.finditer(t, s0, e0):
        title = mm.group(1)
        rest = m[mm.end():e0]
        if re.search(r"事务所|机构|中介|专家|部门", rest):
            continue
        if "中小企业划型标准" in title:
            out.nodes.append(Leaf("size_class", "in", ["micro", "small", "medium"], mm.start(),
                                  _trim_end(m, mm.start(), e0)))
        else:
            out.nodes.append(Leaf("unmapped", "review", None, mm.start(),
                                  _trim_end(m, mm.start(), e0)))
        out.used.append((mm.start(), e0))
        break
    if _BY_REFERENCE.search(seg):
        out.nodes.append(Leaf("unmapped", "review", None, s0, e0))
        out.used.append((s0, e0))
    return out


def _phrase_start(seg: str, pos: int) -> int:
    cut = max(seg.rfind(c, 0, pos) for c in ",，;；、")
    return cut + 1 if cut >= 0 else 0


def _trim_end(m: str, start: int, end: int) -> int:
    while end > start and m[end - 1] in " ,，;；。、" + FILL:
        end -= 1
    return end


def _clause_bounds(m: str, s: int, e: int) -> tuple[int, int]:
    while s < e and m[s] in " ,，;；:：、" + FILL:
        s += 1
    return s, _trim_end(m, s, e)


def _industry_leaf(ctx: ReadContext, span: Span, used: list[tuple[int, int]]) -> Leaf | None:
    m = ctx.masked
    seg = m[span.start:span.end]
    blocked: list[tuple[int, int]] = list(used)
    for word in NOT_INDUSTRY:
        for mm in re.finditer(re.escape(word), seg):
            blocked.append((span.start + mm.start(), span.start + mm.end()))
    codes: list[str] = []
    first, last = -1, -1
    for mm in _industry_re().finditer(seg):
        s, e = span.start + mm.start(), span.start + mm.end()
        if any(a <= s < b or a < e <= b for a, b in blocked):
            continue
        follower = m[e:e + 3]
        in_list = re.match(r"(?:类)?(?:企业|行业)|[、和及或]", follower)
        if mm.group(0) in LISTED_ONLY and not in_list:
            continue  # 房地产 / 金融 only as an industry in a list or before 企业
        whole = re.match(r"(?:类)?企业|行业", follower) or ctx.tokens.is_end(e)
        if not (ctx.tokens.is_start(s) and whole):
            continue
        for c in industry_lexicon()[mm.group(0)]:
            if c not in codes:
                codes.append(c)
        first = s if first < 0 else first
        last = e
    if not codes:
        return None
    # a trailing 除外 is read at sentence level (the exclusion covers the whole clause)
    negative = bool(re.search(r"(?:不属于|非|除|不含|不包括)$", m[span.start:first]))
    return Leaf("industry_code", "not_in" if negative else "in", codes, first, last)


_INDUSTRY_RE: re.Pattern[str] | None = None


def _industry_re() -> re.Pattern[str]:
    global _INDUSTRY_RE
    if _INDUSTRY_RE is None:
        words = sorted(industry_lexicon(), key=len, reverse=True)
        _INDUSTRY_RE = re.compile("|".join(map(re.escape, words)))
    return _INDUSTRY_RE


def region_leaves(ctx: ReadContext, span: Span, used: list[tuple[int, int]]) -> list[Node]:
    """在湖南省行政区域内注册, 省内注册, 在我市参加失业保险, 在湘注册 → region_code in […]."""
    m = ctx.masked
    s0, e0 = span.start, span.end
    seg = m[s0:e0]
    found: list[tuple[str, int, int]] = []
    context = ctx.issuer_regions[0][:2] if ctx.issuer_regions else None
    for r in find_regions(seg, context):
        after = seg[r.end:]
        before = seg[:r.start]
        registered_before = re.search(r"(?:注册地|注册|登记|住所|所在地)(?:为|在|是|于)?$", before)
        if _REGISTRATION_AFTER.match(after) or registered_before or (
                before.endswith(("在", "于")) and re.match(
                    r"^[^,，。;；]{0,8}(?:注册|登记|设立|参加|参保|落户|纳税|企业)", after)):
            found.append((r.code, s0 + r.start, s0 + r.end + _registration_len(after)))
    for mm in _DEICTIC.finditer(seg):
        word = mm.group(1) or mm.group(2)
        after = seg[mm.end():]
        if not _REGISTRATION_AFTER.match(after) and not (mm.group(2) and re.match(r"^内", after)):
            continue
        if mm.group(2) and not _REGISTRATION_AFTER.match(after):
            continue
        code = resolve_deictic(deictic_level(word), list(ctx.issuer_regions))
        if code:
            found.append((code, s0 + mm.start(), s0 + mm.end() + _registration_len(after)))
    for mm in _ABBREV.finditer(seg):
        found.append((PROVINCE_ABBREVIATIONS[mm.group(1)], s0 + mm.start(), s0 + mm.end()))
    out: list[Node] = []
    seen: set[str] = set()
    for code, s, e in sorted(found, key=lambda x: x[1]):
        if code in seen or any(a <= s < b for a, b in used):
            continue
        seen.add(code)
        out.append(Leaf("region_code", "in", [code], s, e))
        used.append((s, e))
    if len(out) > 1:
        return [Group("any", out)]
    return out


def _registration_len(after: str) -> int:
    mm = _REGISTRATION_AFTER.match(after)
    return mm.end() if mm else 0


def residual_unmapped(ctx: ReadContext, span: Span, used: list[tuple[int, int]]) -> Leaf | None:
    """One unmapped leaf for what is left of a clause and names a requirement.

    The residual is split at list separators (、 或 以及 且 并); items that name something no
    field expresses (独立法人资格, 无历史欠费, 经营异常名录 …) are kept together as one leaf.
    """
    m = ctx.masked
    pieces: list[tuple[int, int]] = []
    s = span.start
    for mm in re.finditer(r"、|或者|或|以及|且|并|及|,|，", m[span.start:span.end]):
        pieces.append((s, span.start + mm.start()))
        s = span.start + mm.end()
    pieces.append((s, span.end))
    hits: list[tuple[int, int]] = []
    for ps, pe in pieces:
        free = _free_text(m, ps, pe, used)
        if free and UNMAPPED_CUES.search(free):
            # the piece without the parts other leaves used
            a, b = ps, pe
            for us, ue in sorted(used):
                if us <= a < ue:
                    a = ue
                if us < b <= ue:
                    b = us
            while a < b and m[a] in " ,，;；:：、" + FILL:
                a += 1
            b = _trim_end(m, a, b)
            if b > a:
                hits.append((a, b))
    if not hits:
        return None
    return Leaf("unmapped", "review", None, hits[0][0], hits[-1][1])


def _free_text(m: str, s: int, e: int, used: list[tuple[int, int]]) -> str:
    chars = list(m[s:e])
    for us, ue in used:
        for i in range(max(s, us), min(e, ue)):
            chars[i - s] = " "
    return "".join(chars).replace(FILL, "").strip()
