"""Contract: qualification names as firms' records write them map to the vocabulary.

An unrecognised name is dropped (with a warning), which makes ``has`` *false* for the
firm — so a decorated spelling of a known qualification must not be lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcher.fields import QUALIFICATIONS
from profiles.qualifications import canonical_qualification
from profiles.read import read_profiles
from profiles.uscc import make_uscc


@pytest.mark.parametrize(("written", "canonical"), [
    ("高新技术企业（国家级）", "高新技术企业"),
    ('专精特新"小巨人"企业', "专精特新小巨人企业"),
    ("湖南省专精特新“小巨人”企业", "专精特新小巨人企业"),
    ("科技型中小企业入库", "科技型中小企业"),
    ("国家级制造业单项冠军示范企业", "制造业单项冠军企业"),
    ("长沙市瞪羚企业", "瞪羚企业"),
    ("绿色工厂（省级）", "绿色工厂"),
    ("技术先进型服务企业(服务外包)", "技术先进型服务企业"),
])
def test_decorated_names_resolve(written: str, canonical: str) -> None:
    assert canonical_qualification(written) == canonical


@pytest.mark.parametrize("name", QUALIFICATIONS)
def test_canonical_names_resolve_to_themselves(name: str) -> None:
    assert canonical_qualification(name) == name
    assert canonical_qualification(f"省级{name}") == name


@pytest.mark.parametrize("written", ["省级", "国家技术创新示范企业", "高新区", ""])
def test_other_names_stay_unknown(written: str) -> None:
    assert canonical_qualification(written) is None


def test_profile_keeps_a_bracketed_level_qualification(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    rec = {"uscc": make_uscc("430111", "MA9T0001"), "name": "测试有限公司",
           "qualifications": [{"name": "高新技术企业（国家级）", "valid_until": "2027-12-31"}]}
    path.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    report = read_profiles(path)
    assert not report.warnings and not report.errors
    assert report.records[0]["qualifications"] == [
        {"name": "高新技术企业", "valid_until": "2027-12-31"}]


@pytest.mark.parametrize(("written", "level"), [
    ("国家级", "national"), ("省级", "provincial"), ("市级", "city"), ("县级", "county"),
    ("National", "national"),
])
def test_chinese_levels_map_to_the_contract_words(written: str, level: str) -> None:
    """A level the contract names in English, written in Chinese, must not drop the firm."""
    from profiles.read import parse_qualifications

    warnings: list = []
    got = parse_qualifications([{"name": "高新技术企业", "level": written}], "f:2", warnings)
    assert got == [{"name": "高新技术企业", "level": level}] and not warnings


def test_unknown_level_is_still_refused_naming_the_field() -> None:
    from matcher.errors import RecordError
    from profiles.read import parse_qualifications

    with pytest.raises(RecordError, match=r"f:2.*qualifications\[0\]\.level"):
        parse_qualifications([{"name": "高新技术企业", "level": "乡级"}], "f:2", [])
