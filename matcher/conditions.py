"""Typed condition trees (DATA.md §3) and their JSON form.

A tree is data, not code: a policy officer writes it (or the parser proposes it), the
engine evaluates it for every firm at once, and every leaf keeps the ``source`` span of
policy text it came from so that a verdict can be explained and audited.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from matcher.errors import ConditionError
from matcher.fields import ALL_OPS, FIELDS, OPS_BY_KIND, QUALIFICATIONS

Value: TypeAlias = float | int | str | bool | list[Any] | None


@dataclass(frozen=True)
class Criterion:
    """A leaf: ``field op value``, e.g. ``revenue >= 20000000`` from 营业收入2000万元以上."""

    field: str
    op: str
    value: Value
    source: str = ""

    def leaves(self) -> Iterator[Criterion]:
        yield self

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value, "source": self.source}


@dataclass(frozen=True)
class AllOf:
    """Conjunction: false if any child is false, else unknown if any is unknown."""

    children: tuple[Condition, ...]

    def leaves(self) -> Iterator[Criterion]:
        for child in self.children:
            yield from child.leaves()

    def to_json(self) -> dict[str, Any]:
        return {"all": [c.to_json() for c in self.children]}


@dataclass(frozen=True)
class AnyOf:
    """Disjunction: true if any child is true, else unknown if any is unknown."""

    children: tuple[Condition, ...]

    def leaves(self) -> Iterator[Criterion]:
        for child in self.children:
            yield from child.leaves()

    def to_json(self) -> dict[str, Any]:
        return {"any": [c.to_json() for c in self.children]}


@dataclass(frozen=True)
class Not:
    """Negation: swaps true and false, keeps unknown."""

    child: Condition

    def leaves(self) -> Iterator[Criterion]:
        yield from self.child.leaves()

    def to_json(self) -> dict[str, Any]:
        return {"not": self.child.to_json()}


Condition: TypeAlias = Criterion | AllOf | AnyOf | Not


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_value(field: str, op: str, value: Any, policy_id: str | None, path: str) -> Value:
    """Check that ``value`` fits the field's kind and the operator; return it normalised."""
    spec = FIELDS[field]
    kind = spec.kind

    def fail(msg: str) -> ConditionError:
        return ConditionError(policy_id, f"{path}.value", msg)

    if kind == "unmapped":
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise fail(f"operator '{op}' needs a non-empty list, got {value!r}")
        return [_check_scalar(spec.name, kind, spec.order, v, fail) for v in value]
    if kind == "set":
        if not isinstance(value, str) or not value:
            raise fail(f"'{op}' on {field} needs a name, got {value!r}")
        if field == "qualifications" and value not in QUALIFICATIONS:
            raise fail(
                f"unknown qualification {value!r}; expected one of {', '.join(QUALIFICATIONS)}"
            )
        return value
    if isinstance(value, list):
        raise fail(f"operator '{op}' needs a single value, got a list")
    return _check_scalar(spec.name, kind, spec.order, value, fail)


def _check_scalar(field: str, kind: str, order: tuple[str, ...] | None, v: Any, fail: Any) -> Any:
    if kind == "number":
        if not _is_number(v):
            raise fail(f"{field} compares with numbers (yuan, fractions, years), got {v!r}")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise fail(f"{field} is true/false, got {v!r}")
        return v
    if kind == "date":
        try:
            dt.date.fromisoformat(str(v))
        except ValueError:
            raise fail(f"{field} compares with a date YYYY-MM-DD, got {v!r}") from None
        return str(v)
    if not isinstance(v, str) or not v:
        raise fail(f"{field} compares with a non-empty string, got {v!r}")
    if order is not None and v not in order:
        raise fail(f"{field} must be one of {', '.join(order)}, got {v!r}")
    if field == "region_code" and not (v.isdigit() and len(v) in (2, 4, 6)):
        raise fail(f"region_code prefix must be 2, 4 or 6 digits (GB/T 2260), got {v!r}")
    if field == "industry_code" and not (
            v[0].isalpha() and v[0].isupper() and (v[1:] == "" or v[1:].isdigit())):
        raise fail(f"industry_code must be a section letter and digits (e.g. C34), got {v!r}")
    return v


def parse_condition(
    obj: Any, policy_id: str | None = None, path: str = "conditions"
) -> Condition | None:
    """Build a typed tree from its JSON form, refusing anything the engine cannot evaluate.

    ``None`` means "no conditions" (every firm is eligible while the policy is valid).
    Errors name the policy and the JSON path, e.g. ``conditions.all[2].op``.
    """
    if obj is None:
        return None
    return _parse(obj, policy_id, path)


def _parse(obj: Any, policy_id: str | None, path: str) -> Condition:
    if not isinstance(obj, dict):
        raise ConditionError(policy_id, path, f"expected an object, got {type(obj).__name__}")
    combinators = [k for k in ("all", "any", "not") if k in obj]
    if len(combinators) > 1:
        raise ConditionError(policy_id, path, f"a node has one of all/any/not, got {combinators}")
    if combinators:
        key = combinators[0]
        extra = set(obj) - {key}
        if extra:
            raise ConditionError(policy_id, f"{path}.{sorted(extra)[0]}", "unexpected key")
        if key == "not":
            return Not(_parse(obj["not"], policy_id, f"{path}.not"))
        items = obj[key]
        if not isinstance(items, list) or not items:
            raise ConditionError(policy_id, f"{path}.{key}", "expected a non-empty list")
        children = tuple(_parse(c, policy_id, f"{path}.{key}[{i}]") for i, c in enumerate(items))
        return AllOf(children) if key == "all" else AnyOf(children)

    field = obj.get("field")
    if not isinstance(field, str) or field not in FIELDS:
        raise ConditionError(
            policy_id, f"{path}.field", f"unknown field {field!r}; see DATA.md §1 for the names"
        )
    op = obj.get("op")
    kind = FIELDS[field].kind
    if op not in ALL_OPS:
        raise ConditionError(policy_id, f"{path}.op", f"unknown operator {op!r}")
    if op not in OPS_BY_KIND[kind]:
        allowed = ", ".join(sorted(OPS_BY_KIND[kind]))
        raise ConditionError(
            policy_id, f"{path}.op", f"operator {op!r} does not apply to {field}; use {allowed}"
        )
    source = obj.get("source") or ""
    if not isinstance(source, str):
        raise ConditionError(policy_id, f"{path}.source", "expected a string")
    value = _check_value(field, op, obj.get("value"), policy_id, path)
    return Criterion(field=field, op=op, value=value, source=source)


def condition_to_json(node: Condition | None) -> dict[str, Any] | None:
    return None if node is None else node.to_json()


def leaf_paths(node: Condition, path: str = "conditions") -> Iterator[tuple[str, Criterion]]:
    """Every leaf with its JSON path, in document order (the order used by leaf masks)."""
    if isinstance(node, Criterion):
        yield path, node
    elif isinstance(node, Not):
        yield from leaf_paths(node.child, f"{path}.not")
    else:
        key = "all" if isinstance(node, AllOf) else "any"
        for i, child in enumerate(node.children):
            yield from leaf_paths(child, f"{path}.{key}[{i}]")
