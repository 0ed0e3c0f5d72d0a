"""Load profiles and policies for a CLI verb, reporting skipped records one line each."""

from __future__ import annotations

import sys

import pandas as pd

from matcher.policy import Policy
from policies.read import read_policies
from profiles.read import profiles_frame, read_profiles


def load_inputs(profiles_path: str, policies_path: str) -> tuple[pd.DataFrame, list[Policy], int]:
    """(profiles frame, policies, number of skipped profile records)."""
    policies = read_policies(policies_path)
    report = read_profiles(profiles_path)
    for err in report.errors:
        print(f"policy-match: skipped {err}", file=sys.stderr)
    for warn in report.warnings:
        print(f"policy-match: warning {warn}", file=sys.stderr)
    return profiles_frame(report.records), policies, len(report.errors)
