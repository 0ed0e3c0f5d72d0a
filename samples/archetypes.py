"""A dozen showcase firms: typical targets of the sample policies, placed among random ones.

With 300 firms drawn at random, a city-level reward for a rare 认定 (株洲's 高企 补助,
长沙's 小巨人 奖励) may by chance have no target at all, and the demo would show nothing for
it. Each archetype fixes a county, a line of business and a few floors (revenue, R&D
intensity, patents, 认定); everything else — size, age, insurance, ratings — is drawn like
any other firm. They are 12 of the 300 records (4 %) and are named in README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Archetype:
    county: str  # GB/T 2260 county code
    activity: str  # GB/T 4754 class, one of samples.sectors' activities
    revenue_min: float = 0.0  # yuan
    rd_ratio_min: float = 0.0
    rd_staff_min: float = 0.0
    invention_min: int = 0
    software_min: int = 0
    export_share: float = 0.0
    min_age: float = 3.0
    tax_credit_rating: str | None = None
    # (认定, year recognised): the year decides whether it is still valid on the demo date
    qualifications: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    why: str = ""


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "430211",
        "C3715",
        40_000_000,
        0.045,
        0.15,
        2,
        export_share=0.12,
        tax_credit_rating="B",
        qualifications=(("高新技术企业", 2024), ("专精特新中小企业", 2024)),
        why="株洲 rail-transit supplier: 株洲 高企 免申即享, 专精特新 奖补",
    ),
    Archetype(
        "430121",
        "C3514",
        90_000_000,
        0.04,
        0.12,
        4,
        min_age=8,
        tax_credit_rating="B",
        qualifications=(
            ("高新技术企业", 2025),
            ("专精特新中小企业", 2024),
            ("专精特新小巨人企业", 2024),
            ("智能制造示范工厂", 2025),
        ),
        why="长沙县 engineering-machinery parts: 小巨人 奖励, 智能制造, 先进制造业加计抵减",
    ),
    Archetype(
        "430111",
        "C3491",
        15_000_000,
        0.06,
        0.25,
        2,
        qualifications=(("科技型中小企业", 2026), ("高新技术企业", 2023)),
        why="雨花区 robot maker: the county policy, 长沙 高企 奖励, 人才补贴",
    ),
    Archetype(
        "430104",
        "I6513",
        8_000_000,
        0.09,
        0.4,
        1,
        software_min=12,
        qualifications=(("科技型中小企业", 2026), ("高新技术企业", 2025)),
        why="岳麓区 software house: 软件产业专项, 创新券, 研发人才",
    ),
    Archetype(
        "430281",
        "C3074",
        30_000_000,
        0.0,
        0.0,
        export_share=0.5,
        tax_credit_rating="A",
        qualifications=(("绿色工厂", 2025),),
        why="醴陵 ceramics exporter: 外贸出口奖励, 绿色工厂",
    ),
    Archetype(
        "430105",
        "C3841",
        120_000_000,
        0.035,
        0.12,
        5,
        min_age=6,
        qualifications=(("高新技术企业", 2024), ("上市后备企业", 2026), ("智能制造示范工厂", 2024)),
        why="开福区 battery maker: 上市后备 奖励, 智能制造, 研发奖补",
    ),
    Archetype(
        "430304",
        "C3823",
        35_000_000,
        0.035,
        0.12,
        3,
        qualifications=(("高新技术企业", 2022),),
        why="湘潭 switchgear maker whose 高企 expired in 2025: a near miss for 高企 rewards, "
        "a candidate 企业技术中心",
    ),
    Archetype(
        "430408",
        "C2740",
        50_000_000,
        0.05,
        0.1,
        2,
        qualifications=(("专精特新中小企业", 2022),),
        why="衡阳 drug maker whose 专精特新 lapsed",
    ),
    Archetype(
        "430103",
        "M7320",
        3_000_000,
        0.12,
        0.4,
        1,
        qualifications=(("科技型中小企业", 2026),),
        why="天心区 R&D institute: 高企培育库, 创新券, 加计扣除",
    ),
    Archetype(
        "430702",
        "C1353",
        25_000_000,
        0.0,
        0.0,
        why="常德 food processor just above scale: 小升规 奖励 (needs review)",
    ),
    Archetype(
        "430181",
        "C2662",
        25_000_000,
        0.045,
        0.12,
        3,
        qualifications=(("科技型中小企业", 2026),),
        why="浏阳 new-materials firm: 企业技术中心 and 高企培育库 candidate",
    ),
    Archetype(
        "430202",
        "C3744",
        20_000_000,
        0.05,
        0.2,
        2,
        tax_credit_rating="A",
        qualifications=(("高新技术企业", 2025), ("创新型中小企业", 2025)),
        why="株洲 aviation parts: 株洲 高企 补助, 纳税信用A级",
    ),
)
