"""统一社会信用代码 (GB 32100-2015) validation, including the embedded GB 11714 digit.

python-stdnum checks the final (mod 31) digit; it does not check the organisation
code's own check digit at position 17, which catches a different class of typos.
"""

from __future__ import annotations

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _char_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def org_code_check_digit(body: str) -> str:
    """GB 11714 check digit of an 8-character organisation code body."""
    total = sum(_char_value(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def uscc_problem(code: object) -> str | None:
    """Why ``code`` is not a valid USCC, or None if it is."""
    if not isinstance(code, str):
        return f"expected an 18-character string, got {type(code).__name__}"
    if len(code) != 18:
        return f"expected 18 characters, got {len(code)} ({code!r})"
    try:
        _uscc.validate(code)
    except ValidationError as e:
        return f"invalid USCC {code!r}: {e}"
    if code[16] != org_code_check_digit(code[8:16]):
        return (
            f"invalid USCC {code!r}: organisation-code check digit (position 17) should be "
            f"{org_code_check_digit(code[8:16])!r}"
        )
    return None


def make_uscc(region_code: str, body: str, authority: str = "9", kind: str = "1") -> str:
    """Build a valid USCC from a region code and an 8-character organisation body."""
    org = body + org_code_check_digit(body)
    head = authority + kind + region_code + org
    return head + _uscc.calc_check_digit(head)
