"""Read enterprise profiles from JSONL, CSV or Excel into validated contract records.

Every record is checked field by field; a bad one is reported as ``file:line: field …``
and skipped, the rest of the batch goes on. Absent or empty means unknown — never zero,
never false.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matcher.errors import PolicyMatchError, RecordError
from matcher.fields import (
    BOOL_PROFILE_FIELDS,
    INTEGER_FIELDS,
    NUMERIC_PROFILE_FIELDS,
    PROFILE_FIELDS,
    QUALIFICATION_LEVELS,
    RATIO_FIELDS,
    TAX_CREDIT_RATINGS,
)
from profiles.headers import map_headers
from profiles.qualifications import canonical_qualification
from profiles.reference import industry_names, region_names
from profiles.uscc import uscc_problem

_TRUE = {"true", "1", "是", "y", "yes", "t"}
_FALSE = {"false", "0", "否", "n", "no", "f"}


@dataclass
class ReadReport:
    """Valid records plus what was skipped (errors) or kept with a caveat (warnings)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordError] = field(default_factory=list)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, str) and v.strip() == ""
    )


def _decimal_product(d: Decimal, factor: float) -> float:
    """``d × factor`` as the decimal numbers they are written as, then rounded once.

    57 under 占比(%) is 0.57 and 0.07 亿元 is 7,000,000 yuan exactly; binary floating
    point (57 × 0.01 = 0.5700000000000001) would put values written exactly on a
    threshold (比例不高于57%) on its wrong side.
    """
    return float(d * Decimal(repr(float(factor))))


def parse_number(v: Any, name: str, factor: float, where: str) -> float:
    """A contract number (yuan, fraction, count) from a number or text such as "1,200" or "3%".

    Public because the column-wise reader (``runs.columns``) must give the same verdict and
    message as this record reader for every value. ``factor`` converts the input unit to yuan.
    """
    if isinstance(v, bool):
        raise RecordError(where, name, f"expected a number, got {v!r}")
    if isinstance(v, str):
        s = v.strip().replace(",", "").replace("，", "")
        scale = 1.0
        for suffix, f in (("%", 0.01), ("％", 0.01), ("‰", 0.001)):
            if s.endswith(suffix):
                s, scale = s[: -len(suffix)], f
                # "25%" states its own unit: under a 占比(%) header it is still 0.25, and a
                # percentage of a money or count field is a mistake, not a tiny number.
                if name not in RATIO_FIELDS:
                    raise RecordError(where, name, f"expected a number, got {v!r}")
                factor = 1.0
        try:
            v = _decimal_product(Decimal(s), scale)
        except (InvalidOperation, ValueError):
            raise RecordError(where, name, f"expected a number, got {v!r}") from None
    if not isinstance(v, int | float) or not math.isfinite(v):
        raise RecordError(where, name, f"expected a number, got {v!r}")
    value = _decimal_product(Decimal(v) if isinstance(v, int) else Decimal(repr(float(v))), factor)
    if value < 0:
        raise RecordError(where, name, f"must not be negative, got {v!r}")
    if name in RATIO_FIELDS and value > 1:
        raise RecordError(
            where, name, f"is a fraction between 0 and 1 (3% is 0.03), got {v!r}"
        )
    if name in INTEGER_FIELDS:
        if abs(value - round(value)) > 1e-9:
            raise RecordError(where, name, f"expected a whole number, got {v!r}")
        return float(round(value))
    return value


def parse_bool(v: Any, name: str, where: str) -> bool:
    """True/false from a bool or the usual spellings (是/否, yes/no, 1/0)."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise RecordError(where, name, f"expected true/false (是/否), got {v!r}")


_LEVEL_NAMES = {"国家级": "national", "国家": "national", "省级": "provincial", "省": "provincial",
                "市级": "city", "市": "city", "市州级": "city", "县级": "county", "县": "county",
                "区县级": "county", "县区级": "county", "区级": "county"}

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")


def parse_date(v: Any, name: str, where: str) -> str:
    """ISO date from 2020-05-06, 2020/5/6, 2020.5.6 or 2020年5月6日 (spreadsheets vary)."""
    if isinstance(v, dt.datetime | pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    m = _DATE.match(str(v).strip())
    try:
        if m is None:
            raise ValueError
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise RecordError(where, name, f"expected a date YYYY-MM-DD, got {v!r}") from None


def parse_region_code(v: Any, where: str) -> str:
    """A GB/T 2260 region code (6 digits, known), tolerating a spreadsheet's trailing ".0"."""
    s = str(v).strip()
    if s.endswith(".0"):
        s = s[:-2]
    if not (len(s) == 6 and s.isdigit()):
        raise RecordError(where, "region_code", f"expected 6 digits (GB/T 2260), got {v!r}")
    if s not in region_names():
        raise RecordError(where, "region_code", f"{s} is not a GB/T 2260 region code")
    return s


def parse_industry_code(v: Any, where: str) -> str:
    """A known GB/T 4754-2017 industry code, upper-cased."""
    s = str(v).strip().upper()
    if s not in industry_names():
        raise RecordError(
            where, "industry_code",
            f"{v!r} is not a GB/T 4754-2017 code (section letter + 2–4 digits, e.g. C3491)",
        )
    return s


def parse_qualifications(v: Any, where: str, warnings: list[RecordError]) -> list[dict[str, Any]]:
    """Qualifications from a list, JSON text or "a;b" text; unknown names: warned, dropped."""
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            try:
                v = json.loads(text)
            except json.JSONDecodeError:
                raise RecordError(where, "qualifications", "not a JSON list") from None
        else:
            parts = [p.strip() for p in text.replace("、", ";").replace(",", ";").replace(
                "，", ";").replace("；", ";").split(";")]
            v = [{"name": p} for p in parts if p]
    if not isinstance(v, list):
        raise RecordError(where, "qualifications", f"expected a list, got {type(v).__name__}")
    out = []
    for i, q in enumerate(v):
        q = {"name": q} if isinstance(q, str) else q
        path = f"qualifications[{i}]"
        if not isinstance(q, dict) or not isinstance(q.get("name"), str):
            raise RecordError(where, path, "expected {name, level?, valid_from?, valid_until?}")
        name = canonical_qualification(q["name"])
        if name is None:
            warnings.append(
                RecordError(where, f"{path}.name", f"unknown qualification {q['name']!r} ignored")
            )
            continue
        item: dict[str, Any] = {"name": name}
        level = q.get("level")
        if isinstance(level, str):  # Chinese exports write 国家级/省级 (or 国家/省)
            level = _LEVEL_NAMES.get(level.strip(), level.strip().lower())
        if level is not None and not _blank(level):
            if level not in QUALIFICATION_LEVELS:
                raise RecordError(
                    where, f"{path}.level",
                    f"expected one of {', '.join(QUALIFICATION_LEVELS)}, got {level!r}",
                )
            item["level"] = level
        for key in ("valid_from", "valid_until"):
            if not _blank(q.get(key)):
                item[key] = parse_date(q[key], f"{path}.{key}", where)
        out.append(item)
    return out


def parse_tags(v: Any, where: str) -> list[str]:
    """Tags from a list of strings or "a;b、c" text."""
    if isinstance(v, str):
        return [t.strip() for t in v.replace("、", ";").replace(",", ";").split(";") if t.strip()]
    if isinstance(v, list) and all(isinstance(t, str) for t in v):
        return list(v)
    raise RecordError(where, "tags", "expected a list of strings")


def normalize_profile(
    raw: dict[str, Any], where: str, warnings: list[RecordError] | None = None,
    factors: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One validated contract record (yuan, fractions, canonical names); raises RecordError."""
    warnings = warnings if warnings is not None else []
    factors = factors or {}
    code = raw.get("uscc")
    code = code.strip().upper() if isinstance(code, str) else code
    problem = uscc_problem(code)
    if problem:
        raise RecordError(where, "uscc", problem)
    name = raw.get("name")
    if _blank(name) or not isinstance(name, str):
        raise RecordError(where, "name", "every firm needs a name (企业名称)")
    rec: dict[str, Any] = {"uscc": code, "name": name.strip()}
    for key, v in raw.items():
        if key in ("uscc", "name") or _blank(v):
            continue
        if key not in PROFILE_FIELDS:
            warnings.append(RecordError(where, key, "not a contract field; ignored"))
            continue
        if key == "region_code":
            rec[key] = parse_region_code(v, where)
        elif key == "industry_code":
            rec[key] = parse_industry_code(v, where)
        elif key == "established_on":
            rec[key] = parse_date(v, key, where)
        elif key in NUMERIC_PROFILE_FIELDS:
            rec[key] = parse_number(v, key, factors.get(key, 1.0), where)
        elif key in BOOL_PROFILE_FIELDS:
            rec[key] = parse_bool(v, key, where)
        elif key == "tax_credit_rating":
            s = str(v).strip().upper().removesuffix("级")
            if s not in TAX_CREDIT_RATINGS:
                raise RecordError(where, key, f"expected one of A, B, M, C, D, got {v!r}")
            rec[key] = s
        elif key == "qualifications":
            rec[key] = parse_qualifications(v, where, warnings)
        elif key == "tags":
            rec[key] = parse_tags(v, where)
        else:  # business_scope, products
            if not isinstance(v, str):
                raise RecordError(where, key, f"expected text, got {type(v).__name__}")
            rec[key] = v.strip()
    return rec


def jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any] | RecordError]]:
    """(``file:line``, object) per non-blank line; a broken line gives its RecordError."""
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            where = f"{path.name}:{lineno}"
            if not line.strip():
                continue
            try:
                obj = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as e:
                yield where, RecordError(where, None, f"broken JSON: {e.msg} (column {e.colno})")
                continue
            if not isinstance(obj, dict):
                yield where, RecordError(where, None, "expected a JSON object per line")
                continue
            yield where, obj


def _table_rows(
    df: pd.DataFrame, path: Path, first_line: int
) -> Iterator[tuple[str, dict[str, Any] | RecordError]]:
    mapping, factors = map_headers([str(c) for c in df.columns], path.name)
    df = df.rename(columns=mapping)[list(mapping.values())]
    for i, row in enumerate(df.to_dict(orient="records")):
        yield f"{path.name}:{first_line + i}", {"__factors__": factors, **row}


def read_profiles(path: str | Path) -> ReadReport:
    """Read a JSONL, CSV or .xlsx file; refuse (PolicyMatchError) only if it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise PolicyMatchError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows = jsonl_rows(path)
        elif suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            rows = _table_rows(df, path, 2)
        elif suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
            rows = _table_rows(df, path, 2)
        else:
            raise PolicyMatchError(
                f"{path}: unsupported profile format {suffix!r} (JSONL/CSV/xlsx)")
        report = ReadReport()
        seen: dict[str, str] = {}
        for where, row in rows:
            if isinstance(row, RecordError):
                report.errors.append(row)
                continue
            factors = row.pop("__factors__", None)
            try:
                rec = normalize_profile(row, where, report.warnings, factors)
            except RecordError as e:
                report.errors.append(e)
                continue
            if rec["uscc"] in seen:
                report.errors.append(RecordError(
                    where, "uscc", f"duplicate {rec['uscc']} (first at {seen[rec['uscc']]})"
                ))
                continue
            seen[rec["uscc"]] = where
            report.records.append(rec)
        return report
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PolicyMatchError(f"{path}: cannot read ({e})") from None


def profiles_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Contract records → a typed DataFrame (float64 with NaN, nullable booleans, objects)."""
    data: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        values = [r.get(name) for r in records]
        if name in NUMERIC_PROFILE_FIELDS:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif name in BOOL_PROFILE_FIELDS:
            data[name] = pd.array(values, dtype="boolean")
        elif name in ("qualifications", "tags"):
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.array(values, dtype="string")
    return pd.DataFrame(data)
