"""Webhook secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Why encryption and not a hash: the dispatcher must sign every POST with the secret, so
it has to get it back. A copy of the database (a backup, a dump handed to support) must
not be enough to forge signatures, so the key lives outside it:

* ``POLICY_MATCH_SECRET_KEY`` — one or more Fernet keys, comma-separated. The first
  encrypts; all decrypt (rotation: put the new key first, re-save subscriptions, drop
  the old one). Production sets this, the same on every API and dispatcher host.
* otherwise, for a SQLite file, ``<database file>.key`` beside it, created on first use
  with mode 0600;
* otherwise (PostgreSQL, in-memory SQLite) a per-user key file
  ``$XDG_CONFIG_HOME/policy-match/secret.key`` (default ``~/.config``), mode 0600 —
  fine on one machine; several hosts need the environment variable.

A key file readable by group or others is refused rather than used. Stored values are
``fernet:<token>``; a value without the prefix is a legacy plain secret (migration
``0103_push_secrets`` encrypts those) and is returned as is.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "POLICY_MATCH_SECRET_KEY"
PREFIX = "fernet:"


class SecretKeyError(RuntimeError):
    """The key is missing, unsafe or wrong for a stored secret."""


def key_file(url: sa.URL | str) -> Path:
    """Where the generated key of the store at ``url`` lives (when no env key is set)."""
    u = sa.make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" \
            and not u.database.startswith("file:"):
        return Path(u.database).resolve().with_name(Path(u.database).name + ".key")
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "policy-match" / "secret.key"


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretKeyError(
                f"key file {path} is readable by others (mode {mode:o}); "
                f"run: chmod 600 {path}") from None
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


@functools.lru_cache(maxsize=16)
def _box(env_keys: str, path: str) -> MultiFernet:
    raw = [k.strip().encode() for k in env_keys.split(",") if k.strip()] if env_keys else [
        _read_or_create(Path(path))]
    try:
        return MultiFernet([Fernet(k) for k in raw])
    except (ValueError, TypeError) as e:
        where = KEY_ENV if env_keys else path
        raise SecretKeyError(f"{where}: not a Fernet key (32 url-safe base64 bytes): {e}"
                             ) from None


def box_for(url: sa.URL | str) -> MultiFernet:
    """The key ring for the store at ``url`` (cached per key source)."""
    env = os.environ.get(KEY_ENV, "")
    return _box(env, "" if env else str(key_file(url)))


def encrypt(url: sa.URL | str, secret: str) -> str:
    return PREFIX + box_for(url).encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(url: sa.URL | str, stored: str | None) -> str | None:
    """The plain secret of a stored value (legacy plain values pass through)."""
    if stored is None or not stored.startswith(PREFIX):
        return stored
    try:
        return box_for(url).decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretKeyError(
            f"a stored webhook secret cannot be decrypted with the current key "
            f"({KEY_ENV} or {key_file(url)}): was the key changed or lost?") from None


def conn_url(conn: sa.Connection) -> sa.URL:
    return conn.engine.url
