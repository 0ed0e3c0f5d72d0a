"""Pure matching core: condition trees, derived attributes, vectorised three-valued evaluation.

Nothing in this package reads files, talks to a database or prints: DataFrames and
arrays come in, DataFrames and arrays go out. The I/O edges (``profiles``, ``policies``,
``cli``, ``store``, ``api``) depend on it, never the other way round.
"""

from matcher.conditions import AllOf, AnyOf, Condition, Criterion, Not, parse_condition
from matcher.errors import ConditionError, PolicyMatchError, RecordError
from matcher.logic import FALSE, TRUE, UNKNOWN
from matcher.policy import Benefit, Policy

__all__ = [
    "AllOf",
    "AnyOf",
    "Benefit",
    "Condition",
    "ConditionError",
    "Criterion",
    "FALSE",
    "Not",
    "Policy",
    "PolicyMatchError",
    "RecordError",
    "TRUE",
    "UNKNOWN",
    "parse_condition",
]
