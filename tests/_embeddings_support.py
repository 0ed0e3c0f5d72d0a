"""Shared pieces of the embeddings tests: one torch thread, the built models, mixed texts.

The two models are built once into the model cache folder (``$POLICY_MATCH_MODEL_DIR``,
default ``~/.cache/policy-match/models``) and reused by every later run: building e5 takes
seconds, distilling the static encoder a few minutes, so a fresh machine pays that once
(``scripts/bootstrap`` normally has done it already).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import torch

from embeddings.e5_rebuild import build_e5
from embeddings.static import build_static

# Two threads collapse when the other core is busy (the machine has two).
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# English, mixed-script and awkward inputs: full-width forms, ideographic spaces, runs of
# spaces, tabs and newlines, enclosed numbers, units, emoji, a rare CJK extension character.
_EXTRA = [
    "Industrial robots and smart manufacturing solutions",
    "Software development, IT consulting and integrated circuit design",
    "Restaurant and catering services for office workers",
    "R&D expense ratio of at least 3% in the last fiscal year",
    "High-tech enterprise certification (HNTE), valid for three years",
    "Lithium battery cathode materials for new-energy vehicles",
    "湖南某智能装备有限公司 (Hunan Smart Equipment Co., Ltd.)",
    "主营产品：AGV小车、SCARA机器人、PLC控制系统",
    "研发投入占比2.4%，达到3%（再投入约¥120万）即可申报",
    "ＡＢＣ全角字母与１２３全角数字，以及　全角空格",
    "多个   空格\t制表符\n换行",
    "①高新技术企业 ②专精特新 ③小巨人",
    "厂房面积5000㎡，年产值1.2亿元，温度控制在25℃以内",
    "电子商务平台运营；跨境电商 B2B / B2C",
    "Emoji 🚀 and rare 𠀀 characters",
    "5G+工业互联网 融合应用示范",
    "医疗器械（二类）生产、销售",
    "COVID-19疫情防控物资生产企业稳岗补贴",
    "对认定为国家级专精特新“小巨人”的企业给予一次性奖励50万元。",
    "ISO 9001质量管理体系认证；CMMI 3级",
    "农产品初加工；obst und gemüse; café naïve",
    "智能网联汽车 L4 自动驾驶测试",
    "新材料、新能源、节能环保产业",
    "AI 大模型 + 政务服务",
]


def mixed_texts(n: int = 151) -> list[str]:
    """``n`` distinct real-looking texts: sample firms' scopes and products, policy titles
    and sentences (samples/), and the mixed-script extras above."""
    firms = [
        json.loads(x)
        for x in (SAMPLES / "firms.jsonl").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    policies = [
        json.loads(x)
        for x in (SAMPLES / "policies.jsonl").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    pools = [
        _EXTRA,
        [p["title"] for p in policies],
        [f["business_scope"] for f in firms if f.get("business_scope")],
        [s + "。" for p in policies for s in re.split(r"。", p.get("text") or "") if len(s) > 8],
        [f"{f['products']}" for f in firms if f.get("products")],
    ]
    out: list[str] = []
    seen: set[str] = set()
    # Round-robin over the pools so that every kind of text is represented.
    for i in range(max(len(p) for p in pools)):
        for pool in pools:
            if i < len(pool) and pool[i] not in seen:
                seen.add(pool[i])
                out.append(pool[i])
                if len(out) == n:
                    return out
    return out


@functools.cache
def built_e5() -> Path:
    """The rebuilt e5 folder in the model cache (built on first call, reused after)."""
    return build_e5()


@functools.cache
def built_static() -> Path:
    """The static encoder's folder in the model cache (distilled on first call)."""
    return build_static()
