"""The bundled sample data: valid, realistic, reproducible, and rich enough for the demo."""

from __future__ import annotations

import collections
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not
from matcher.derive import derive
from matcher.eligibility import Columns, eligibility_table, evaluate
from matcher.errors import RecordError
from matcher.fields import PROFILE_FIELDS
from policies.read import read_policies
from profiles.headers import map_header
from profiles.read import normalize_profile, profiles_frame, read_profiles
from profiles.reference import industry_names, region_names, size_standard
from samples import generate
from samples.archetypes import ARCHETYPES

SAMPLES = Path(generate.__file__).resolve().parent
AS_OF = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def firms() -> list[dict[str, Any]]:
    report = read_profiles(SAMPLES / "firms.jsonl")
    assert report.errors == []
    return report.records


@pytest.fixture(scope="module")
def raw_firms() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / "firms.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def policies():
    return read_policies(SAMPLES / "policies.jsonl")


@pytest.fixture(scope="module")
def table(firms, policies):
    ev = evaluate(profiles_frame(firms), policies, AS_OF, size_standard())
    return eligibility_table(ev)


def _walk(node: Condition) -> list[Condition]:
    out: list[Condition] = [node]
    if isinstance(node, Not):
        out += _walk(node.child)
    elif isinstance(node, AllOf | AnyOf):
        for c in node.children:
            out += _walk(c)
    return out


# --- firms --------------------------------------------------------------------------


def test_every_firm_reads_without_errors_or_warnings() -> None:
    report = read_profiles(SAMPLES / "firms.jsonl")
    assert len(report.records) == generate.N_FIRMS == 300
    assert report.errors == []
    assert report.warnings == []


def test_firm_records_use_contract_fields_and_omit_unknowns(raw_firms) -> None:
    for rec in raw_firms:
        assert list(rec) == [k for k in PROFILE_FIELDS if k in rec]  # contract order
        assert None not in rec.values()  # unknown is an absent key, never null or 0
    incomplete = [r for r in raw_firms if len(r) < len(PROFILE_FIELDS)]
    assert 0.10 <= len(incomplete) / len(raw_firms) <= 0.20
    missing = collections.Counter(k for r in incomplete for k in PROFILE_FIELDS if k not in r)
    assert len(missing) >= 8  # gaps spread over many fields, not one column


def test_codes_are_real_hunan_counties_and_gbt4754_classes(firms) -> None:
    regions, industries = region_names(), industry_names()
    for f in firms:
        assert f["region_code"].startswith("43") and not f["region_code"].endswith("00")
        assert f["region_code"] in regions
        assert len(f["industry_code"]) == 5 and f["industry_code"] in industries
        # the USCC carries the county or its prefecture as registration authority
        assert f["uscc"][2:6] == f["region_code"][:4]


def test_sector_and_region_mix_follow_the_priors(firms) -> None:
    n = len(firms)
    section = collections.Counter(f["industry_code"][0] for f in firms)
    assert 0.18 <= section["F"] / n <= 0.27  # 批发和零售 ≈ 22 %
    assert 0.12 <= section["L"] / n <= 0.19  # 租赁和商务服务 ≈ 15 %
    assert 0.15 <= section["C"] / n <= 0.23  # 制造业 15–20 % (+ showcase firms)
    assert 0.03 <= section["E"] / n <= 0.07  # 建筑业 ≈ 5 %
    assert sum(f["industry_code"].startswith("I65") for f in firms) >= 10
    pref = collections.Counter(f["region_code"][:4] for f in firms)
    ranked = [code for code, _ in pref.most_common()]
    assert ranked[0] == "4301"  # 长沙
    assert set(ranked[1:6]) & {"4306", "4307", "4302", "4305", "4304"} == set(ranked[1:6])
    assert set(ranked[-2:]) == {"4308", "4331"}  # 张家界, 湘西


def test_firms_are_mostly_micro_and_small(firms) -> None:
    derived = derive(profiles_frame(firms), AS_OF, size_standard())
    sizes = derived["size_class"].value_counts(dropna=True)
    assert (sizes.get("micro", 0) + sizes.get("small", 0)) / sizes.sum() >= 0.9
    share_above = derived["above_scale"].fillna(False).astype(bool).mean()
    assert 0.05 <= share_above <= 0.25


def test_qualifications_are_rare_and_some_have_expired(firms) -> None:
    held = collections.Counter()
    expired = collections.Counter()
    for f in firms:
        for q in f.get("qualifications") or []:
            held[q["name"]] += 1
            if q.get("valid_from") and q.get("valid_until"):
                assert q["valid_from"] <= q["valid_until"]
            if q.get("valid_until") and q["valid_until"] < AS_OF.isoformat():
                expired[q["name"]] += 1
    tech = sum(f["industry_code"][0] in "CIM" for f in firms)
    assert 0.05 <= held["高新技术企业"] / tech <= 0.2
    assert 1 <= held["专精特新小巨人企业"] <= 5
    assert held["专精特新中小企业"] / len(firms) <= 0.06
    assert expired["高新技术企业"] >= 1 and expired["科技型中小企业"] >= 1
    assert sum(f.get("serious_dishonesty", False) for f in firms) <= 0.03 * len(firms)


def test_business_scope_fits_the_industry(firms) -> None:
    by_code = {a.code: a for _, _, a in generate.FirmFactory(1).activities}
    for f in firms:
        act = by_code[f["industry_code"]]
        if "business_scope" in f:
            assert act.scope in f["business_scope"]
        if "products" in f:
            assert f["products"] == act.products
        assert any(w in f["name"] for w in act.words)


def test_showcase_archetypes_are_in_the_file(firms) -> None:
    pairs = collections.Counter((f["region_code"], f["industry_code"]) for f in firms)
    for a in ARCHETYPES:
        assert pairs[(a.county, a.activity)] >= 1


# --- the Chinese-header CSV ----------------------------------------------------------


def test_zh_csv_has_bom_and_chinese_headers_the_reader_maps() -> None:
    raw = (SAMPLES / "firms_zh.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[0] == "统一社会信用代码" and "营业收入(万元)" in header
    fields = [map_header(h)[0] for h in header]
    assert None not in fields and len(set(fields)) == len(fields)
    assert map_header("营业收入(万元)") == ("revenue", 1e4)
    assert map_header("研发人员占比(%)") == ("rd_staff_ratio", 0.01)


def test_zh_csv_reads_back_to_the_first_50_firms(firms) -> None:
    report = read_profiles(SAMPLES / "firms_zh.csv")
    assert report.errors == [] and report.warnings == []
    assert len(report.records) == generate.N_CSV == 50
    for got, want in zip(report.records, firms[:50], strict=True):
        assert set(got) == set(want), want["uscc"]
        for key, value in want.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (want["uscc"], key)
            else:
                assert got[key] == value, (want["uscc"], key)


@settings(max_examples=200)
@given(
    money=st.integers(min_value=0, max_value=10**12).map(lambda v: v * 100),
    ratio=st.integers(min_value=0, max_value=10_000).map(lambda v: v / 10_000),
)
def test_unit_cells_convert_back_exactly(money: int, ratio: float) -> None:
    # what generate writes under 营业收入(万元) / 裁员率(%) is what the reader restores
    raw = {
        "uscc": "91430111MA4L12X397",
        "name": "长沙测试有限公司",
        "revenue": generate._cell(money, "wan"),
        "layoff_rate": generate._cell(ratio, "pct"),
    }
    factors = {
        "revenue": map_header("营业收入(万元)")[1],
        "layoff_rate": map_header("裁员率(%)")[1],
    }
    rec = normalize_profile(raw, "cell", [], factors)
    assert rec["revenue"] == pytest.approx(money, rel=1e-12, abs=1e-6)
    assert rec["layoff_rate"] == pytest.approx(ratio, abs=1e-12)


@settings(max_examples=12)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_seed_gives_valid_records(seed: int) -> None:
    warnings: list[RecordError] = []
    firms = generate.generate_firms(40, seed)
    assert len({f["uscc"] for f in firms}) == 40
    for i, f in enumerate(firms):
        normalize_profile(dict(f), f"seed{seed}:{i}", warnings)
    assert warnings == []


# --- the deliberately bad file -------------------------------------------------------


def test_bad_file_reports_each_broken_line_and_keeps_the_good_ones() -> None:
    report = read_profiles(SAMPLES / "firms_bad.jsonl")
    assert len(report.records) == 2
    got = [(e.where, e.field) for e in report.errors]
    assert got == [
        ("firms_bad.jsonl:2", None),
        ("firms_bad.jsonl:3", "uscc"),
        ("firms_bad.jsonl:5", "region_code"),
        ("firms_bad.jsonl:6", "revenue"),
    ]
    messages = [e.message for e in report.errors]
    assert "broken JSON" in messages[0]
    assert "check digit" in messages[1] or "checksum" in messages[1].lower()
    assert "430199" in messages[2]
    assert "约1200万" in messages[3]


# --- policies ------------------------------------------------------------------------


def test_policies_parse_and_every_source_is_in_the_text(policies) -> None:
    assert len(policies) >= 24
    assert len({p.id for p in policies}) == len(policies)
    for p in policies:
        assert p.title and p.issuer and p.issued_on and p.text and p.source_url
        trees = ([p.conditions] if p.conditions is not None else []) + list(p.preferences)
        for tree in trees:
            for leaf in tree.leaves():
                assert leaf.source and leaf.source in p.text, (p.id, leaf.source)
        for b in p.benefits:
            assert b.source in p.text, (p.id, b.source)
        assert p.benefits


def test_policies_cover_the_contract_features(policies) -> None:
    modes = collections.Counter(p.mode for p in policies)
    assert modes["apply"] > modes["no_application"] >= 3 and 1 <= modes["instant"] <= 2
    assert (
        sum(not p.valid_on(AS_OF) and p.valid_until and p.valid_until < AS_OF for p in policies)
        == 1
    )
    assert (
        sum(not p.valid_on(AS_OF) and p.valid_from and p.valid_from > AS_OF for p in policies) == 1
    )
    nodes = [n for p in policies if p.conditions is not None for n in _walk(p.conditions)]
    leaves = [n for n in nodes if isinstance(n, Criterion)]
    assert any(isinstance(n, AnyOf) for n in nodes) and any(isinstance(n, Not) for n in nodes)
    assert sum(leaf.field == "unmapped" for leaf in leaves) >= 5
    assert sum(bool(p.preferences) for p in policies) >= 3
    assert {leaf.op for leaf in leaves} >= {
        ">=",
        ">",
        "<=",
        "==",
        "in",
        "not_in",
        "has",
        "not_has",
        "review",
    }
    counties = [v for leaf in leaves if leaf.field == "region_code" for v in leaf.value]
    assert any(len(v) == 6 for v in counties)  # one county-level policy
    kinds = {b.kind for p in policies for b in p.benefits}
    assert {"grant", "subsidy", "tax", "loan", "voucher"} <= kinds
    assert any(b.rate is not None and b.base is not None for p in policies for b in p.benefits)


# --- the demo: evaluation on the samples ---------------------------------------------


def test_evaluation_shows_all_three_statuses(table) -> None:
    assert set(table[Columns.STATUS]) == {"eligible", "ineligible", "undetermined"}
    und = table[table[Columns.STATUS] == "undetermined"]
    assert (und[Columns.UNKNOWN] != "").all()


def test_every_valid_policy_has_a_target(table, policies) -> None:
    for p in policies:
        rows = table[table[Columns.POLICY_ID] == p.id]
        hits = rows[Columns.STATUS].isin(["eligible", "undetermined"]).sum()
        if p.valid_on(AS_OF):
            assert hits >= 1, p.id
        else:
            assert hits == 0
            assert rows[Columns.UNMET].str.startswith("不在政策有效期内").all()


def test_firms_with_several_eligible_policies_and_amounts(table) -> None:
    eligible = table[table[Columns.STATUS] == "eligible"]
    per_firm = eligible.groupby(Columns.USCC).size()
    assert (per_firm >= 2).sum() >= 5
    with_amount = eligible[eligible[Columns.AMOUNT] != ""]
    assert with_amount[Columns.USCC].nunique() >= 5
    assert with_amount[Columns.POLICY_ID].nunique() >= 8


def test_many_firms_are_near_misses(table, policies) -> None:
    """A near miss fails exactly one requirement that is not about where it is registered."""
    region_sources = {
        leaf.source
        for p in policies
        if p.conditions is not None
        for leaf in p.conditions.leaves()
        if leaf.field == "region_code"
    }
    valid = {p.id for p in policies if p.valid_on(AS_OF)}
    rows = table[(table[Columns.STATUS] == "ineligible") & table[Columns.POLICY_ID].isin(valid)]
    single = rows[~rows[Columns.UNMET].str.contains(" | ", regex=False)]
    near = single[~single[Columns.UNMET].isin(region_sources)]
    assert near[Columns.USCC].nunique() / table[Columns.USCC].nunique() >= 0.5
    # and the misses are varied, not one policy's single threshold
    assert near[Columns.POLICY_ID].nunique() >= 15


# --- reproducibility -----------------------------------------------------------------


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    written = generate.main(tmp_path)
    assert [p.name for p in written] == ["firms.jsonl", "firms_zh.csv", "firms_bad.jsonl"]
    for p in written:
        assert p.read_bytes() == (SAMPLES / p.name).read_bytes(), p.name
