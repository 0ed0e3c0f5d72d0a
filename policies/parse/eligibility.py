"""The eligibility rules of a policy document as one condition tree.

Where the rules are:

1. in eligibility sections (申报条件, 支持对象, 享受对象 …): every sentence is read, and a
   requirement no field expresses becomes ``unmapped`` (nothing is dropped);
2. elsewhere, only in sentences that say they state requirements (须是…, …的企业为…,
   不再申报, 对照《…》…);
3. in texts without such sections (news items, compilations): in sentences that
   introduce requirements (需符合, 满足以下3个条件, …的可以享受) and in the targets of
   award sentences (对首次认定的高新技术企业给予20万元奖励: the target is a 高新技术企业).
   Several award targets are alternatives; an award that adds conditions to a target
   already rewarded on its own is a benefit tier, not another way in.

How items combine comes from the list header: 同时满足以下条件 → all, 其中一项 / 之一 →
any, one revenue tier per item → any of tiers. A later clause that relaxes an earlier
bound for a sub-group (其中30人(含)以下的企业裁员率不高于20%) is an alternative to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from policies.parse.clauses import FILL, Span, clauses, sentences, strip_connector, trim
from policies.parse.leaves import (
    _RATIO_RULES,
    ReadContext,
    numeric_findings,
    residual_unmapped,
    status_findings,
)
from policies.parse.outline import Item, outline
from policies.parse.regions import name_of
from policies.parse.sections import Section
from policies.parse.tree import Group, Leaf, Node, leaves, make, negate

_ANY_HEAD = re.compile(r"之一|其中一项|其中1项|任一项|任意一项|其中一个|任一条件|下列一项")
_OR_CHILDREN = re.compile(r"或(?:者)?(?:满足|符合|具备|达到)(?:下列|以下|如下)")
_HEADER = re.compile(
    r"(?:以下|下列|如下)[^,，。]{0,12}(?:条件|要求|情形|标准|之一|一项|规定)|" + _ANY_HEAD.pattern
)
_EXCLUDE_END = re.compile(
    r"(?:不再推荐|不予推荐|不再申报|不得申报|不予支持|不予受理|不能申报|不得享受|不予享受|不享受|"
    r"不纳入[^,，。]{0,10}|不予奖励|不予补助|不列入[^,，。]{0,10}|除外)$")
_EXPLANATORY = re.compile(
    r"所称|下同|计算公式|公式如下|[=÷×]|按(?:照)?[^,，]{0,14}(?:计算|确定|计入)|"
    r"以其[^,，]{0,14}(?:确定|计算)|"
    r"应按|具体计算|^包括|^主要是指|^是指[^,，]{0,6}(?:人数|总额|收入|费用|指标)"
)
# Guidance on reading another text (相关概念需按《办法》…严格把握): no requirement of its own.
_GUIDANCE = re.compile(r"(?:需|须|应)按[^,，]{0,30}(?:把握|执行|理解|掌握)")
_NOTE = re.compile(r"^\s*(?:注|备注|说明|注释)\s*[:：]")
_METRIC_TERM = re.compile(r"人数|人员|总额|收入|费用|指标|资产|额$")
# 经 opens a means (经审核…) but 经认定的高新技术企业 is a qualification, not a means.
_ADVERBIAL = re.compile(
    r"^(?:通过|经(?!认定|评定|备案|评价|审定|确认|认证|登记入库|入库)|依托|借助|根据|依据|按照|按|参照|围绕|结合)"
)
_PRINCIPLE = re.compile(r"原则")
_NEGATED_BOUND = re.compile(r"不(?:超过|超出|高于|低于|少于|多于|大于|小于|满|足|到)")
_PREDICATE = re.compile(
    r"^(?:均|即|就|方|才|则)?(?:可以?|能|将)?(?:申请|申报|享受|纳入|获得|推荐|成为|提出|认定为|纳入)"
    r"|^(?:即|均)?视为|^予以|^不再|^不予|^可纳入|^都可以|^的?[,，]?(?:可以?|均可)")
_SUBJECT_NP = re.compile(r"(?:企业|单位|纳税人|个体工商户|主体|机构)$")
_PREFERENCE = re.compile(r"重点(?:聚焦|支持|扶持|面向|关注)|优先(?:支持|推荐|考虑|安排)|鼓励|倾斜")
_AND_WORDS = ("以及", "及", "并", "并且", "且", "同时", "和", "还")
_PROCEDURAL = re.compile(
    r"提交|填报|上传|报送|登录|填写|下载|审核|推荐上报|初审|复审|公示|送交|报备"
)
_PERSON = re.compile(r"个人|人员|自然人|劳动者|毕业生|退役军人|农民工|个体")
_STRONG = re.compile(
    r"(?:须|必须|应当?)(?:是|为)(?![准止])|的企业为|不再申报|不予推荐|不再推荐|不得申报|不予支持|"
    r"对照\s*《|符合\s*《")
_CUE_LIST = re.compile(r"(?:满足|符合|具备|同时满足)(?:以下|下列|如下)[^。；;]{0,8}(?:条件|要求)")
_CUE_HEAD = re.compile(
    r"(?:支持|申报|申请|认定|享受|补助|奖励|扶持|贷款|返还)(?:范围|对象|条件)(?:为|是|包括|涵盖|[:：])"
    r"|(?:范围|对象)涵盖")
_CUE_SENTENCE = re.compile(
    r"(?:需|须|应|必须|需要)(?:同时)?(?:符合|满足|具备)(?!什么)|"
    r"的[,，]?(?:就|均|即|方)?(?:可以|可|能)(?:申请|享受|申报|获得)|"
    r"是指"
)
_AWARD_VERB = re.compile(r"给予|奖励|奖补|补助|补贴|资助|扶持|发放|返还|贴息|提高至")
# Sentences that define who may apply:
# …可申请第五批…企业 / …提出复核申请 / 申报企业须是… / 复核的企业为…
_APPLICANT_END = re.compile(
    r"(?:可|可以|均可)(?:申请|申报)[^,，。;；]{0,24}$|提出[^,，。;；]{0,6}申请$"
)
_APPLICANT_START = re.compile(
    r"^[^,，。;；]{0,10}(?:企业|单位|对象)(?:须|必须|应当?)?(?:是|为)(?![指准止])"
)
# A clause naming a sub-group (30人(含)以下的企业,) governs the clause after it.
_SUBGROUP_END = re.compile(r"的(?:参保)?(?:企业|单位|纳税人)$")
_RECOGNISED = re.compile(r"认定为|评为|评选为|认定的|获评|列为|入选|获得[^,，]{0,6}认定")
_TARGET_STOP = re.compile(
    r"分别|一次性|由[^,，]{0,8}财政|按照|按|给予|奖励|补助|市财政|区财政|县财政|省财政|每家|最高"
)


@dataclass
class ReadResult:
    """Nodes read from a stretch of text, and what its header says about its list."""

    nodes: list[Node] = field(default_factory=list)
    any_children: bool = False
    or_children: bool = False
    metric: str | None = None
    preferences: list[Node] = field(default_factory=list)
    person_list: bool = False


class ConditionReader:
    """Reads the condition tree and preferences of one document (see module docstring)."""

    def __init__(self, ctx: ReadContext, sections: list[Section], issuer_regions: list[str],
                 issuer_span: tuple[int, int], body_start: int) -> None:
        self.ctx = ctx
        self.sections = sections
        self.issuer_regions = issuer_regions
        self.issuer_span = issuer_span
        self.body_start = body_start
        self.preferences: list[Node] = []

    # ---------------------------------------------------------------- entry point

    def read(self, has_benefits: bool) -> Node | None:
        by_region: dict[str | None, list[Section]] = {}
        for s in self.sections:
            by_region.setdefault(s.region, []).append(s)
        regional = [r for r in by_region if r is not None]
        if regional:
            branches: list[Node] = []
            for r in regional:
                secs = by_region[r]
                node = self._read_sections(secs)
                head = secs[0]
                rleaf = Leaf("region_code", "in", [r], head.region_start, head.region_end)
                branches.append(make("all", [rleaf, node]))  # type: ignore[arg-type]
            common = self._read_sections(by_region.get(None, []))
            return make("all", [common, make("any", branches)])  # type: ignore[list-item]
        node = self._read_sections(self.sections)
        if node is None and not has_benefits:
            return None
        if node is None or not any(lf.field == "region_code" for lf in leaves(node)):
            node = make("all", [self._issuer_region_node(), node])
        return node

    def _read_sections(self, secs: list[Section]) -> Node | None:
        for s in secs:
            if s.kind in ("benefit", "other", "procedure"):
                self._preference_sentences(s)
        elig = [s for s in secs if s.kind == "eligibility"]
        nodes: list[Node] = []
        if elig:
            for s in elig:
                nodes.extend(self.read_scope(s.start, s.end, fallback=True).nodes)
            for s in secs:
                if s.kind in ("procedure", "other"):
                    nodes.extend(self._strong_sentences(s))
            if all(lf.field == "region_code" for n in nodes for lf in leaves(n)):
                # 适用对象 names only the place: who gets what is said by the awards
                branches = [b for s in secs if s.kind in ("benefit", "other")
                            for b in self._award_branches(s)]
                nodes.append(_absorb(branches))  # type: ignore[arg-type]
            return make("all", nodes)  # type: ignore[arg-type]
        award_branches: list[Node] = []
        for s in secs:
            if s.kind in ("basis", "dates"):
                continue
            nodes.extend(self._cue_scopes(s))
            award_branches.extend(self._award_branches(s))
        award = _absorb(award_branches)
        return make("all", [*nodes, award])

    def _issuer_region_node(self) -> Node | None:
        if not self.issuer_regions:
            return None
        out: list[Node] = []
        for code in self.issuer_regions:
            s, e = self._region_source(code)
            out.append(Leaf("region_code", "in", [code], s, e))
        return make("any", out)

    def _region_source(self, code: str) -> tuple[int, int]:
        """A span naming the region: in the body if it is named there, else the issuer."""
        t = self.ctx.text
        name = name_of(code)
        short = re.sub(r"(?:省|市|区|县|自治区|壮族自治区|回族自治区|维吾尔自治区)$", "", name)
        for cand in (name, short):
            if len(cand) >= 2:
                i = t.find(cand, self.body_start)
                if i >= 0:
                    return i, i + len(cand)
        s, e = self.issuer_span
        if s >= 0:
            i = t.find(short, s, e) if len(short) >= 2 else -1
            if i >= 0:
                return i, i + len(short)
            return s, e
        return 0, 0

    # ---------------------------------------------------------------- eligibility text

    def read_scope(self, start: int, end: int, fallback: bool) -> ReadResult:
        root = outline(self.ctx.masked, start, end)
        node = self._read_item(root, fallback, None)
        return ReadResult([node] if node is not None else [])

    def _read_item(self, item: Item, fallback: bool, metric: str | None) -> Node | None:
        head = self._read_run(item.start, item.head_end, fallback, metric)
        if head.person_list:
            return None
        child_metric = head.metric or metric
        kids = [self._read_item(c, fallback, child_metric) for c in item.children]
        kids_n = [k for k in kids if k is not None]
        tail = (self._read_run(item.tail_start, item.end, fallback, child_metric)
                if item.children else ReadResult())
        children: Node | None = None
        if kids_n:
            if head.any_children or head.or_children:
                children = make("any", kids_n)  # type: ignore[arg-type]
            elif self._tiers(item, kids_n):
                _settle_tier_bounds(kids_n)
                children = make("any", kids_n)  # type: ignore[arg-type]
            else:
                children = make("all", kids_n)  # type: ignore[arg-type]
        span = trim(self.ctx.masked, Span(item.start, item.head_end))
        if head.or_children:
            alt = make("any", [*head.nodes, children], (span.start, span.end))  # type: ignore[list-item]
            return make("all", [alt, *tail.nodes])
        return make("all", [*head.nodes, children, *tail.nodes])  # type: ignore[list-item]

    def _tiers(self, item: Item, kids: list[Node]) -> bool:
        """Items that each open with a sub-group (…的企业,) and then state a requirement."""
        if len(item.children) < 2:
            return False
        m = self.ctx.masked
        for c in item.children:
            first = clauses(m, Span(c.start, c.head_end))
            if len(first) < 2 or not re.search(r"的(?:企业|单位)?$", first[0].text(m)):
                return False
        return True

    def _read_run(self, start: int, end: int, fallback: bool, metric: str | None,
                  strong_only: bool = False) -> ReadResult:
        """Sentences of ``[start, end)`` → conjunction of their nodes (and header flags)."""
        res = ReadResult(metric=None)
        m = self.ctx.masked
        groups: list[list[Node]] = []
        roles: list[str] = []  # per group: "applicant", "exclusion" or ""
        for sent in sentences(m, start, end):
            stext = sent.text(m)
            cue = _CUE_LIST.search(stext)
            if cue and _PERSON.search(stext[cue.end():][:6]):
                res.person_list = True
                break
            if self._in_note(sent) or _person_sentence(stext) or self._explanatory_sentence(sent):
                continue
            if strong_only and not _STRONG.search(stext):
                continue
            if _PREFERENCE.search(stext):
                # 在长沙市注册的企业，优先支持高新技术企业: the clauses from the cue on are soft
                cut = next(c.start for c in clauses(m, sent) if _PREFERENCE.search(c.text(m)))
                pref = self._read_sentence(Span(cut, sent.end), False, metric, res)
                self.preferences.extend(n for g in pref for n in g if not _all_unmapped(n))
                if cut <= sent.start:
                    continue
                sent = trim(m, Span(sent.start, cut))
                stext = sent.text(m)
            sent_groups = self._read_sentence(sent, fallback and not strong_only, metric, res,
                                              cue_only=strong_only)
            role = ("exclusion" if _EXCLUDE_END.search(stext.rstrip("。;；")) else
                    "applicant" if (_APPLICANT_END.search(stext) or _APPLICANT_START.search(stext))
                    else "")
            groups.extend(sent_groups)
            roles.extend([role] * len(sent_groups))
        _relax(groups)
        res.nodes.extend(_applicant_groups(groups, roles))
        return res

    def _read_sentence(self, sent: Span, fallback: bool, metric: str | None,
                       res: ReadResult, cue_only: bool = False) -> list[list[Node]]:
        """Clauses of one sentence → per-clause node lists (alternatives folded in)."""
        m = self.ctx.masked
        cls = _split_cue_verbs(m, clauses(m, sent))
        if cue_only and not _EXCLUDE_END.search(m[sent.start:sent.end].rstrip("。;；")):
            cls = [c for c in cls if _STRONG.search(m[c.start:c.end])]
        per_clause: list[list[Node]] = []
        alternatives: list[list[list[Node]]] = [[]]
        exclude_all = bool(_EXCLUDE_END.search(m[sent.start:sent.end].rstrip("。;；")))
        last_metric = metric
        prev_unmapped_only = False
        joins_next = False
        for idx, c in enumerate(cls):
            core, conn = strip_connector(m, c)
            ctext = core.text(m).replace(FILL, "")
            if not ctext.strip():
                continue
            if _HEADER.search(ctext):
                if _ANY_HEAD.search(ctext):
                    res.any_children = True
                if _OR_CHILDREN.search(ctext):
                    res.or_children = True
                rm = _ratio_metric(ctext)
                if rm:
                    res.metric = rm
                # a header may still state something before it (评价得分达到60分以上或满足…)
                pre = _OR_CHILDREN.search(ctext)
                if pre is not None:
                    sub = Span(core.start, core.start + core.text(m).find(pre.group(0)))
                    nodes = self._clause_nodes(sub, fallback, metric, None, last_metric)
                    if nodes:
                        alternatives[-1].append(nodes)
                continue
            rm = _ratio_metric(ctext)
            if rm and not re.search(r"\d", ctext):
                res.metric = rm
            if conn in ("或", "或者") and not _ADVERBIAL.search(ctext) and any(alternatives[-1]):
                alternatives.append([])
            is_last = idx == len(cls) - 1
            if exclude_all and is_last and _EXCLUDE_END.fullmatch(ctext.strip()):
                continue  # the predicate (不再推荐) itself
            nodes = self._clause_nodes(core, fallback, metric, ctext, last_metric)
            for n in nodes:
                for lf in leaves(n):
                    if lf.field in ("rd_expense", "rd_ratio", "revenue"):
                        last_metric = lf.field
            only_unmapped = bool(nodes) and all(_all_unmapped(n) for n in nodes)
            if (only_unmapped and prev_unmapped_only and conn in _AND_WORDS
                    and alternatives[-1] and alternatives[-1][-1]):
                prev = alternatives[-1][-1][-1]
                if isinstance(prev, Leaf):
                    prev.end = max(prev.end, max(lf.end for n in nodes for lf in leaves(n)))
                    continue
            prev_unmapped_only = only_unmapped
            if nodes and alternatives[-1] and joins_next:
                alternatives[-1][-1].extend(nodes)
                joins_next = False
                continue
            joins_next = bool(nodes) and bool(_SUBGROUP_END.search(ctext))
            if nodes:
                alternatives[-1].append(nodes)
        del per_clause
        alts = [a for a in alternatives if a]
        if exclude_all:
            flat = [n for a in alts for g in a for n in g]
            return [[negate(make("any", flat))]] if flat else []  # type: ignore[arg-type]
        if len(alts) > 1:
            branches = [make("all", [n for g in a for n in g]) for a in alts]
            return [[make("any", branches)]]  # type: ignore[list-item]
        return alts[0] if alts else []

    def _clause_nodes(self, core: Span, fallback: bool, metric: str | None,
                      ctext: str | None = None, previous: str | None = None) -> list[Node]:
        """One clause → its nodes; an unexplained requirement → one unmapped leaf."""
        m = self.ctx.masked
        if ctext is None:
            ctext = core.text(m).replace(FILL, "")
        if not ctext.strip():
            return []
        explanatory = bool(_EXPLANATORY.search(ctext)) or (
            bool(re.search(r"包括|是指", ctext))
            and bool(_METRIC_TERM.search(re.split(r"包括|是指", ctext)[0]))
            and not ctext.startswith("是指"))
        if explanatory or _PRINCIPLE.search(ctext) or _GUIDANCE.search(ctext):
            return []
        if _ADVERBIAL.search(ctext) and not re.search(r"符合|对照", ctext[:6]):
            return []
        ctx = self.ctx
        num = numeric_findings(ctx, core, metric, previous)
        stat = status_findings(ctx, core)
        used = num.used + stat.used
        nodes: list[Node] = [*num.nodes, *stat.nodes]
        res = residual_unmapped(ctx, core, used)
        if res is not None:
            nodes.append(res)
        nodes = _merge_unmapped(nodes)
        nodes = self._clause_alternatives(core, nodes, used)
        if nodes or not fallback:
            return nodes
        if used:
            return []  # the clause was read (e.g. an expired qualification), nothing to keep
        if (_HEADER.search(ctext) or _PREDICATE.search(ctext) or _EXCLUDE_END.fullmatch(ctext)
                or _SUBJECT_NP.search(ctext) or _PROCEDURAL.search(ctext) or len(ctext) <= 3
                or ctext in ("其中",)):
            return []
        return [Leaf("unmapped", "review", None, core.start, core.end)]

    def _clause_alternatives(self, core: Span, nodes: list[Node],
                             used: list[tuple[int, int]]) -> list[Node]:
        """``A或B`` inside a clause: nodes on both sides of a free 或 are alternatives."""
        if len(nodes) < 2:
            return nodes
        m = self.ctx.masked
        for mm in re.finditer(r"或者|或", m[core.start:core.end]):
            pos = core.start + mm.start()
            if any(a <= pos < b for a, b in used):
                continue
            # 不超过/不低于/不满… are bounds, not negations (不超过100人或营业收入不满…)
            before = _NEGATED_BOUND.sub("", m[core.start:pos])
            if re.search(r"未|无|没有|不", before):
                continue  # 未被列入A或B: neither A nor B
            left = [n for n in nodes if _first(n) < pos]
            right = [n for n in nodes if _first(n) >= pos]
            if left and right:
                return [make("any", [make("all", left), make("all", right)])]  # type: ignore[list-item]
        return nodes

    def _in_note(self, sent: Span) -> bool:
        """Inside a 注：/说明： paragraph (a note on a table or a definition)."""
        m = self.ctx.masked
        line_start = m.rfind("\n", 0, sent.start) + 1
        return bool(_NOTE.match(m[line_start:sent.end]))

    def _explanatory_sentence(self, sent: Span) -> bool:
        """A sentence that explains how to count (从业人数,包括…; …的,以其实际经营期确定…)."""
        m = self.ctx.masked
        for c in clauses(m, sent):
            core, _ = strip_connector(m, c)
            ctext = core.text(m).replace(FILL, "")
            if _EXPLANATORY.search(ctext):
                return True
            head = re.split(r"包括|是指", ctext)[0]
            if re.search(r"包括|是指", ctext) and head and _METRIC_TERM.search(head):
                return True
        return False

    def _preference_sentences(self, sec: Section) -> None:
        """优先支持…/同等条件下优先… outside the eligibility part: soft, mapped leaves only."""
        m = self.ctx.masked
        for sent in sentences(m, sec.start, sec.end):
            if _PREFERENCE.search(sent.text(m)) and not self._in_note(sent):
                res = ReadResult()
                cut = next(c.start for c in clauses(m, sent) if _PREFERENCE.search(c.text(m)))
                for g in self._read_sentence(Span(cut, sent.end), False, None, res):
                    self.preferences.extend(n for n in g if not _all_unmapped(n))

    def _strong_sentences(self, sec: Section) -> list[Node]:
        res = self._read_run(sec.start, sec.end, False, None, strong_only=True)
        return res.nodes

    # ---------------------------------------------------------------- texts without sections

    def _cue_scopes(self, sec: Section) -> list[Node]:
        """Requirement sentences of a section that has no eligibility heading."""
        m = self.ctx.masked
        out: list[Node] = []
        pos = sec.start
        covered_until = sec.start
        for sent in sentences(m, sec.start, sec.end):
            if sent.start < covered_until:
                continue
            stext = sent.text(m)
            lm = _CUE_LIST.search(stext) or _CUE_HEAD.search(stext)
            if lm:
                if _PERSON.search(stext[lm.end():lm.end() + 8]) or _person_sentence(stext):
                    covered_until = _line_end(m, sent.start, sec.end)
                    continue
                end = _line_end(m, sent.start, sec.end)
                end = _list_continues(m, end, sec.end)
                out.extend(self.read_scope(sent.start, end, fallback=True).nodes)
                covered_until = end
                continue
            if self._in_note(sent):
                continue
            if (_CUE_SENTENCE.search(stext) and not _person_sentence(stext)
                    and not self._units(sent)[0] and not self._explanatory_sentence(sent)):
                res = ReadResult()
                for g in self._read_sentence(sent, True, None, res):
                    out.extend(g)
        del pos
        return out

    def _units(self, sent: Span) -> tuple[list[list[Span]], list[Span]]:
        """Award units of a sentence (target clauses, ending before the award verb) and the
        clauses after them that add conditions (…的就可以享受)."""
        m = self.ctx.masked
        units: list[list[Span]] = []
        extra: list[Span] = []
        unit: list[Span] | None = None
        for c in clauses(m, sent):
            core, _ = strip_connector(m, c)
            ctext = m[core.start:core.end]
            opens = re.match(r"\s*(?:对于|对)(?!外|其|应|照|此|接)", ctext)
            verb = _AWARD_VERB.search(ctext)
            before_verb = ctext[:verb.start()] if verb else ctext
            if opens:
                unit = []
            elif unit is None and _RECOGNISED.search(before_verb) and self._has_target(
                    Span(core.start, core.start + len(before_verb))):
                unit = []
            if unit is None:
                if units and _CUE_SENTENCE.search(ctext):
                    extra.append(core)
                continue
            if verb:
                cut = _TARGET_STOP.search(ctext)
                stop = min(verb.start(), cut.start() if cut else len(ctext))
                unit.append(Span(core.start, core.start + stop))
                units.append(unit)
                unit = None
            else:
                unit.append(core)
        return units, extra

    def _has_target(self, span: Span) -> bool:
        if span.end <= span.start:
            return False
        st = status_findings(self.ctx, span)
        return any(isinstance(n, Leaf) and n.field == "qualifications" for n in st.nodes)

    def _award_branches(self, sec: Section) -> list[Node]:
        """Award sentences (对X给予…) → one branch per award: its target and conditions."""
        m = self.ctx.masked
        branches: list[Node] = []
        prev_targets: list[Node] = []
        for sent in sentences(m, sec.start, sec.end):
            units, extra_spans = self._units(sent)
            extra = [n for c in extra_spans for n in self._clause_nodes(c, False, None)]
            for k, parts in enumerate(units):
                targets: list[Node] = []
                conds: list[Node] = []
                for p in parts:
                    core = p
                    mm = re.match(r"\s*(?:对于|对)", m[core.start:core.end])
                    if mm:
                        core = Span(core.start + mm.end(), core.end)
                    if core.end <= core.start:
                        continue
                    for n in self._clause_nodes(core, False, None):
                        for_target = isinstance(n, Leaf) and (
                            n.field in ("qualifications", "size_class") or (n.unmapped and n.key))
                        (targets if for_target else conds).append(n)
                if k == len(units) - 1:
                    conds.extend(extra)
                if not targets and not conds:
                    continue
                if not targets:
                    targets = list(prev_targets)
                else:
                    prev_targets = list(targets)
                _relax_nodes(conds)
                branch = make("all", [make("any", targets), *conds])  # type: ignore[list-item]
                if branch is not None:
                    branches.append(branch)
        return branches


def _applicant_groups(groups: list[list[Node]], roles: list[str]) -> list[Node]:
    """Two or more applicant sentences (X可申请…; 第二批…提出复核申请; 申报企业须是X; 复核的
    企业为Y) describe alternative groups of applicants: ``any`` of them. What follows an
    applicant sentence belongs to its group; exclusions apply to every group."""
    if roles.count("applicant") < 2:
        return [n for g in groups for n in g]
    before: list[Node] = []
    shared: list[Node] = []
    branches: list[list[Node]] = []
    for g, role in zip(groups, roles, strict=True):
        if role == "applicant":
            branches.append(list(g))
        elif role == "exclusion":
            shared.extend(g)
        elif branches:
            branches[-1].extend(g)
        else:
            before.extend(g)
    alts = [make("all", b) for b in branches if b]
    return [*before, make("any", alts), *shared]  # type: ignore[list-item]


def _merge_unmapped(nodes: list[Node]) -> list[Node]:
    """Several unmapped leaves of one clause are one requirement: one leaf spanning them."""
    plain = [n for n in nodes if isinstance(n, Leaf) and n.unmapped and not n.key]
    if len(plain) < 2:
        return nodes
    merged = Leaf("unmapped", "review", None,
                  min(n.start for n in plain), max(n.end for n in plain))
    out: list[Node] = []
    for n in nodes:
        if n is plain[0]:
            out.append(merged)
        elif not any(n is p for p in plain):
            out.append(n)
    return out


def _person_sentence(stext: str) -> bool:
    """申请个人创业担保贷款需符合…: requirements of a person, not of the firm."""
    cue = re.search(r"(?:需|须|应|必须)(?:同时)?(?:符合|满足|具备)|符合(?:以下|下列)", stext)
    if not cue:
        return False
    return bool(re.search(r"申请个人|个人申请|个人创业|自然人", stext[:cue.start()]))


def _split_cue_verbs(m: str, cls: list[Span]) -> list[Span]:
    """申请小微企业贷款则需符合A → [申请小微企业贷款, A]: the applicant, then the rule."""
    out: list[Span] = []
    for c in cls:
        mm = re.search(r"(?:则)?(?:需|须|应|必须)(?:同时)?(?:符合|满足|具备)", m[c.start:c.end])
        if mm and mm.start() > 0 and mm.end() < c.end - c.start:
            out.append(trim(m, Span(c.start, c.start + mm.start())))
            out.append(trim(m, Span(c.start + mm.end(), c.end)))
        else:
            out.append(c)
    return [c for c in out if c.end > c.start]


def _ratio_metric(text: str) -> str | None:
    for name, rx in _RATIO_RULES:
        if rx.search(text):
            return name
    return None


def _all_unmapped(node: Node) -> bool:
    return all(lf.unmapped for lf in leaves(node))


def _first(node: Node) -> int:
    return min(lf.start for lf in leaves(node))


def _line_end(m: str, pos: int, limit: int) -> int:
    i = m.find("\n", pos, limit)
    return limit if i < 0 else i


def _list_continues(m: str, end: int, limit: int) -> int:
    """Lines right after a list header that are numbered items belong to the list."""
    pos = end
    while pos < limit:
        nxt = m.find("\n", pos + 1, limit)
        line = m[pos + 1:nxt if nxt >= 0 else limit]
        if not re.match(r"\s*(?:[（(][一二三四五六七八九十\d]+[)）]|\d{1,2}[.、．]|[一二三四五六七"
            r"八九十]+是)", line):
            break
        pos = nxt if nxt >= 0 else limit
    return pos


def _relax(groups: list[list[Node]]) -> None:
    """A later clause with a sub-group and a looser bound on the same field is an alternative.

    参保企业裁员率不高于5.5%, 30人(含)以下的参保企业裁员率不高于20% →
    ``any[layoff_rate <= 0.055, all[employees <= 30, layoff_rate <= 0.2]]``.
    """
    for j in range(len(groups)):
        gj = groups[j]
        if len(gj) < 2 or not all(isinstance(n, Leaf) for n in gj):
            continue
        for lj in gj:
            assert isinstance(lj, Leaf)
            if lj.unmapped or not isinstance(lj.value, int | float):
                continue
            done = False
            for i in range(j):
                for k, li in enumerate(groups[i]):
                    if (isinstance(li, Leaf) and li.field == lj.field and li.op == lj.op
                            and li.value != lj.value):
                        groups[i][k] = Group("any", [li, Group("all", list(gj))])
                        groups[j] = []
                        done = True
                        break
                if done:
                    break
            if done:
                break


def _relax_nodes(nodes: list[Node]) -> None:
    """:func:`_relax` over a flat list whose last items came from one later clause."""
    groups = [[n] for n in nodes]
    # treat trailing leaves after the first repeated field as one sub-group clause
    seen: dict[str, int] = {}
    split = None
    for i, n in enumerate(nodes):
        if isinstance(n, Leaf) and not n.unmapped:
            if n.field in seen and split is None:
                # the sub-group starts at the first leaf after the previous clause
                split = _clause_start(nodes, i)
            seen.setdefault(n.field, i)
    if split is None:
        return
    groups = [[n] for n in nodes[:split]] + [list(nodes[split:])]
    _relax(groups)
    nodes[:] = [n for g in groups for n in g]


def _clause_start(nodes: list[Node], i: int) -> int:
    """Index of the first node that shares the clause of node ``i`` (adjacent spans)."""
    j = i
    while j > 0:
        a, b = nodes[j - 1], nodes[j]
        if not isinstance(a, Leaf) or not isinstance(b, Leaf) or b.start - a.end > 12:
            break
        j -= 1
    return j


def _settle_tier_bounds(kids: list[Node]) -> None:
    """Tier lists: a range's lower end equal to the previous tier's inclusive upper end is
    exclusive (小于5000万元(含) / 5000万元至2亿元(含) → the second tier starts above 5000万)."""
    for prev, cur in zip(kids, kids[1:], strict=False):
        uppers = {(lf.field, lf.value) for lf in leaves(prev) if lf.op == "<="}
        for lf in leaves(cur):
            if lf.from_range and lf.op == ">=" and (lf.field, lf.value) in uppers:
                lf.op = ">"


def _absorb(branches: list[Node]) -> Node | None:
    """Award branches: drop those that only add conditions to targets rewarded anyway."""
    if not branches:
        return None
    unconditional: set[tuple[object, ...]] = set()
    parsed: list[tuple[set[tuple[object, ...]], bool, Node]] = []
    for b in branches:
        kids = b.children if isinstance(b, Group) and b.kind == "all" else [b]
        target_ids: set[tuple[object, ...]] = set()
        has_cond = False
        for k in kids:
            if isinstance(k, Group) and k.kind == "any":
                target_ids |= {lf.ident() for lf in leaves(k)}
            elif isinstance(k, Leaf) and (
                    k.field in ("qualifications", "size_class") or (k.unmapped and k.key)):
                target_ids.add(k.ident())
            else:
                has_cond = True
        parsed.append((target_ids, has_cond, b))
        if not has_cond:
            unconditional |= target_ids
    kept = [b for ids, cond, b in parsed if not (cond and ids and ids <= unconditional)]
    return make("any", kept)  # type: ignore[arg-type]
