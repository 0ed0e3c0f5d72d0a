"""Which database a command talks to: ``POLICY_MATCH_DATABASE_URL`` or the SQLite default.

Users write the URLs they know (``postgresql://user@host/db``); SQLAlchemy needs to be
told the driver, and we ship psycopg 3, so the scheme is rewritten here, once, for every
command and the API alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DATABASE_URL_ENV = "POLICY_MATCH_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///policy_match.db"

_DRIVER_SCHEMES = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
}


def database_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL to use: ``explicit``, else the environment, else the SQLite file.

    The default is a relative SQLite path, i.e. ``policy_match.db`` in the directory the
    command runs in, which is what the README demo expects.
    """
    env = os.environ if environ is None else environ
    url = explicit or env.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{DATABASE_URL_ENV}: not a database URL: {url!r}")
    return f"{_DRIVER_SCHEMES.get(scheme, scheme)}://{rest}"


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
