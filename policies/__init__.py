"""Policies (政策): reading contract JSONL, and (later) parsing policy documents."""

from policies.read import read_policies

__all__ = ["read_policies"]
