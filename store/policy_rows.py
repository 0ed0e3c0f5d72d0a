"""Contract policies (DATA.md §2) ↔ rows of the ``policies`` table, and their review state.

The review workflow is ``draft`` → ``published`` → ``withdrawn``; a withdrawn policy may
be published again (a corrected re-issue keeps its id). Only published policies are
matched against firms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matcher.policy import Policy

TRANSITIONS: dict[str, frozenset[str]] = {
    "published": frozenset({"draft", "withdrawn"}),  # target: allowed sources
    "withdrawn": frozenset({"published"}),
}


def content_hash(policy: Policy) -> str:
    """SHA-256 over what decides verdicts and amounts: window, mode, trees, benefits.

    Title, text and issuer do not change any firm's verdict, so editing them does not
    change the hash (nor trigger a re-notification downstream).
    """
    doc = policy.to_json()
    decisive = {k: doc.get(k) for k in (
        "valid_from", "valid_until", "mode", "conditions", "preferences", "benefits",
    )}
    blob = json.dumps(decisive, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def policy_columns(policy: Policy) -> dict[str, Any]:
    """The columns derived from the contract document (not the state or timestamps)."""
    document = policy.to_json()
    document.pop("text", None)
    return {
        "id": policy.id,
        "title": policy.title,
        "issuer": policy.issuer,
        "mode": policy.mode,
        "issued_on": policy.issued_on,
        "valid_from": policy.valid_from,
        "valid_until": policy.valid_until,
        "document": document,
        "text": policy.text,
        "source_url": policy.source_url,
        "content_hash": content_hash(policy),
    }


@dataclass(frozen=True)
class PolicyRow:
    """A stored policy: the contract record plus its review state and history stamps."""

    policy: Policy
    state: str
    version: int
    content_hash: str
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None

    @property
    def id(self) -> str:
        return self.policy.id


def policy_from_row(row: Mapping[Any, Any], utc: Any) -> PolicyRow:
    document = dict(row["document"])
    document["text"] = row["text"]
    return PolicyRow(
        policy=Policy.from_json(document),
        state=row["state"],
        version=row["version"],
        content_hash=row["content_hash"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        published_at=utc(row["published_at"]),
        withdrawn_at=utc(row["withdrawn_at"]),
    )
