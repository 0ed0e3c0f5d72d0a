"""One router per resource."""

from __future__ import annotations

from typing import Any

from api.schemas.common import MessageOut, ValidationErrorOut

# Error responses every authenticated route may give, documented once for OpenAPI.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": MessageOut, "description": "missing, unknown or revoked API key"},
    403: {"model": MessageOut, "description": "the key's role may not do this"},
    404: {"model": MessageOut, "description": "no such record (or not visible to this key)"},
    422: {"model": ValidationErrorOut, "description": "bad input: record, field and message"},
    429: {"model": MessageOut, "description": "rate limit exceeded; see Retry-After"},
}
