"""API keys: ``pm_<id>_<secret>``, of which only a SHA-256 of the secret is stored.

The secret is 256 random bits, so a fast hash is enough (there is nothing to brute-force,
unlike a password) and keeps the check cheap on every request; the public ``id`` finds
the row without scanning, and the comparison is constant-time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from store.schema import ROLES

PREFIX = "pm"


@dataclass(frozen=True)
class ApiKey:
    """A stored key without its secret: who it is and what it may do."""

    id: str
    role: str
    uscc: str | None
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def actor(self) -> str:
        """How this key appears in the audit log."""
        return f"key:{self.id}"


def new_token() -> tuple[str, str, str]:
    """(key id, full token to hand out once, hash of the secret to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}_{key_id}_{secret}", secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def check_role(role: str, uscc: str | None) -> str | None:
    """Why (role, uscc) is not a valid key binding, or None."""
    if role not in ROLES:
        return f"unknown role {role!r}; use {', '.join(ROLES)}"
    if role == "firm" and not uscc:
        return "a firm key is bound to one firm: give its USCC (--uscc)"
    if role != "firm" and uscc:
        return f"only firm keys are bound to a USCC, not {role!r} keys"
    return None
