"""Read contract policies (DATA.md §2) from JSONL.

Unlike a bad firm record, a bad policy tree makes a whole run meaningless (every firm's
verdict on it would be wrong), so any error refuses the file, naming the line, the
policy and the JSON path of the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

from matcher.errors import ConditionError, PolicyMatchError
from matcher.policy import Policy


def parse_policies(lines: list[str], name: str) -> list[Policy]:
    policies: list[Policy] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise PolicyMatchError(f"{where}: broken JSON ({e.msg} at column {e.colno})") from None
        try:
            policy = Policy.from_json(obj)
        except ConditionError as e:
            raise PolicyMatchError(f"{where}: {e}") from None
        if policy.id in seen:
            raise PolicyMatchError(
                f"{where}: duplicate policy id {policy.id!r} (first at line {seen[policy.id]})"
            )
        seen[policy.id] = lineno
        policies.append(policy)
    return policies


def read_policies(path: str | Path) -> list[Policy]:
    """All policies of a JSONL file (a single JSON object or array is accepted too)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyMatchError(f"{path}: cannot read ({e})") from None
    stripped = text.strip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n{" not in stripped):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, list):
            return parse_policies([json.dumps(o, ensure_ascii=False) for o in obj], path.name)
    return parse_policies(text.splitlines(), path.name)
