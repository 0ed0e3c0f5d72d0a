"""Policy and benefit records in contract form (DATA.md §2, §4).

Dates are kept as ``datetime.date``; money in yuan. Keys the contract does not name are
kept in ``extra`` and written back, so that tools which add fields (a ``note`` from a
reviewer) lose nothing in a round trip.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from matcher.conditions import Condition, parse_condition
from matcher.errors import ConditionError
from matcher.fields import FIELDS

Mode = Literal["apply", "no_application", "instant"]
MODES: tuple[str, ...] = ("apply", "no_application", "instant")
BenefitKind = Literal["grant", "subsidy", "loan_interest", "tax", "voucher", "loan", "other"]
BENEFIT_KINDS: tuple[str, ...] = (
    "grant", "subsidy", "loan_interest", "tax", "voucher", "loan", "other",
)

_POLICY_KEYS = (
    "id", "title", "issuer", "issued_on", "valid_from", "valid_until", "mode", "conditions",
    "preferences", "benefits", "text", "source_url",
)


@dataclass(frozen=True)
class Benefit:
    """支持内容: a fixed ``amount`` or ``rate`` × profile field ``base``, optionally capped.

    A benefit whose base is no profile field (``base`` null: 失业保险费, 进项税额 …) is
    recorded for the reader but has no computable amount.
    """

    kind: str
    amount: float | None = None
    rate: float | None = None
    base: str | None = None
    cap: float | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def computable(self) -> bool:
        return self.amount is not None or (self.rate is not None and self.base is not None)

    @classmethod
    def from_json(cls, obj: Any, policy_id: str | None, path: str) -> Benefit:
        if not isinstance(obj, dict):
            raise ConditionError(policy_id, path, "a benefit is an object")
        kind = obj.get("kind", "other")
        if kind not in BENEFIT_KINDS:
            raise ConditionError(
                policy_id, f"{path}.kind", f"unknown kind {kind!r}; use {', '.join(BENEFIT_KINDS)}"
            )
        nums: dict[str, float | None] = {}
        for key in ("amount", "rate", "cap"):
            v = obj.get(key)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float)
                or not math.isfinite(v) or v < 0
            ):
                raise ConditionError(policy_id, f"{path}.{key}",
                                     f"expected a number ≥ 0, got {v!r}")
            nums[key] = v
        base = obj.get("base")
        if base is not None and (base not in FIELDS or FIELDS[base].kind != "number"):
            raise ConditionError(
                policy_id, f"{path}.base", f"base must be a numeric profile field, got {base!r}"
            )
        known = {"kind", "amount", "rate", "base", "cap", "source"}
        return cls(
            kind=kind, amount=nums["amount"], rate=nums["rate"], base=base, cap=nums["cap"],
            source=str(obj.get("source") or ""),
            extra={k: v for k, v in obj.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.amount is not None:
            out["amount"] = self.amount
        if self.rate is not None:
            out["rate"] = self.rate
            out["base"] = self.base
        if self.cap is not None:
            out["cap"] = self.cap
        out["source"] = self.source
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Policy:
    """One policy: hard ``conditions``, soft ``preferences``, ``benefits`` and its window."""

    id: str
    title: str = ""
    issuer: str = ""
    issued_on: dt.date | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    mode: str = "apply"
    conditions: Condition | None = None
    preferences: tuple[Condition, ...] = ()
    benefits: tuple[Benefit, ...] = ()
    text: str = ""
    source_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def valid_on(self, as_of: dt.date) -> bool:
        """Outside 有效期/申报期 nothing is eligible; missing bounds are open."""
        if self.valid_from is not None and as_of < self.valid_from:
            return False
        return not (self.valid_until is not None and as_of > self.valid_until)

    @classmethod
    def from_json(cls, obj: Any) -> Policy:
        """Validate and type a contract policy; errors name the policy and the JSON path."""
        if not isinstance(obj, dict):
            raise ConditionError(None, "policy", "a policy is a JSON object")
        pid = obj.get("id")
        if not isinstance(pid, str) or not pid.strip():
            raise ConditionError(None, "id", "every policy needs a non-empty string id")
        mode = obj.get("mode") or "apply"
        if mode not in MODES:
            raise ConditionError(pid, "mode", f"unknown mode {mode!r}; use {', '.join(MODES)}")
        dates = {k: _date(obj.get(k), pid, k) for k in ("issued_on", "valid_from", "valid_until")}
        prefs = obj.get("preferences") or []
        if not isinstance(prefs, list):
            raise ConditionError(pid, "preferences", "expected a list of conditions")
        benefits = obj.get("benefits") or []
        if not isinstance(benefits, list):
            raise ConditionError(pid, "benefits", "expected a list of benefits")
        for key in ("title", "issuer", "text", "source_url"):
            if obj.get(key) is not None and not isinstance(obj.get(key), str):
                raise ConditionError(pid, key, "expected a string")
        preferences: list[Condition] = []
        for i, p in enumerate(prefs):
            node = parse_condition(p, pid, f"preferences[{i}]")
            if node is not None:
                preferences.append(node)
        return cls(
            id=pid,
            title=obj.get("title") or "",
            issuer=obj.get("issuer") or "",
            mode=mode,
            conditions=parse_condition(obj.get("conditions"), pid, "conditions"),
            preferences=tuple(preferences),
            benefits=tuple(
                Benefit.from_json(b, pid, f"benefits[{i}]") for i, b in enumerate(benefits)
            ),
            text=obj.get("text") or "",
            source_url=obj.get("source_url") or "",
            extra={k: v for k, v in obj.items() if k not in _POLICY_KEYS},
            **dates,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "issuer": self.issuer,
            "issued_on": _iso(self.issued_on),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "mode": self.mode,
            "conditions": None if self.conditions is None else self.conditions.to_json(),
            "preferences": [p.to_json() for p in self.preferences],
            "benefits": [b.to_json() for b in self.benefits],
            "text": self.text,
            "source_url": self.source_url,
        }
        out.update(self.extra)
        return out


def _date(v: Any, pid: str, key: str) -> dt.date | None:
    if v is None or v == "":
        return None
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise ConditionError(pid, key, f"expected a date YYYY-MM-DD, got {v!r}") from None


def _iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()
