"""Argument types shared by the verbs."""

from __future__ import annotations

import argparse
import datetime as dt


def iso_date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {s!r}") from None
