"""Local days and digest times: caps count per calendar day in China Standard Time.

A firm in Changsha reads "3 messages a day" in its own day, not UTC's (which turns
over at 08:00 there). China has no daylight saving, so a fixed UTC+8 offset is exact
and needs no time-zone database.
"""

from __future__ import annotations

import datetime as dt

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
DEFAULT_DIGEST_HOUR = 9  # 09:00 local: the start of an office day


def local_day(now: dt.datetime) -> dt.date:
    """The calendar day in China of the UTC instant ``now``."""
    return now.astimezone(CHINA).date()


def next_digest_at(now: dt.datetime, hour: int = DEFAULT_DIGEST_HOUR) -> dt.datetime:
    """The first ``hour``:00 China time strictly after ``now``, as a UTC instant."""
    if not 0 <= hour <= 23:
        raise ValueError(f"digest hour must be 0–23, got {hour}")
    local = now.astimezone(CHINA)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += dt.timedelta(days=1)
    return at.astimezone(dt.UTC)


def today_in_china(now: dt.datetime) -> dt.date:
    """The default ``as_of`` of the CLI's edge: today's date in China."""
    return local_day(now)
