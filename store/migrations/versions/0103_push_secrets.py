"""Push: webhook secrets encrypted at rest.

Revision ID: 0103_push_secrets
Revises: 0102_push_fanout
Create Date: 2026-11-26

Until now ``push_channels.secret`` held the shared secret in plain text. This revision
encrypts every plain value with the store's key (``push.secrets``: the
``POLICY_MATCH_SECRET_KEY`` environment variable, or a generated 0600 key file) and
stores ``fernet:<token>``. The column stays ``TEXT``. Downgrading decrypts them back.

Where the key comes from and how values are written are frozen below (not imported from
``push.secrets``), so that later code cannot change what this revision does;
``tests/test_push_secrets.py`` checks that ``push.secrets`` reads what it writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0103_push_secrets"
down_revision = "0102_push_fanout"
branch_labels = None
depends_on = None

_channels = sa.table("push_channels", sa.column("id"), sa.column("secret"))

# -- frozen copy of push.secrets as of this revision --------------------------------------
KEY_ENV = "POLICY_MATCH_SECRET_KEY"
PREFIX = "fernet:"


def key_file(url: sa.URL) -> Path:
    """``<database>.key`` beside a SQLite file, else the per-user
    ``$XDG_CONFIG_HOME/policy-match/secret.key``."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        return Path(url.database).resolve().with_name(Path(url.database).name + ".key")
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "policy-match" / "secret.key"


def _read_or_create(path: Path) -> bytes:
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise RuntimeError(f"key file {path} is readable by others (mode {mode:o}); "
                               f"run: chmod 600 {path}") from None
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


def key_ring(url: sa.URL) -> object:
    """The keys of ``POLICY_MATCH_SECRET_KEY`` (first encrypts), else the key file's."""
    from cryptography.fernet import Fernet, MultiFernet

    env = os.environ.get(KEY_ENV, "")
    raw = [k.strip().encode() for k in env.split(",") if k.strip()] if env else [
        _read_or_create(key_file(url))]
    return MultiFernet([Fernet(k) for k in raw])


def _rewrite(encrypting: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_channels.c.id, _channels.c.secret)
                        .where(_channels.c.secret.is_not(None))).all()
    if not rows:
        return
    ring = key_ring(conn.engine.url)
    for cid, value in rows:
        encrypted = value.startswith(PREFIX)
        if encrypting and not encrypted:
            new = PREFIX + ring.encrypt(value.encode("utf-8")).decode("ascii")  # type: ignore[attr-defined]
        elif not encrypting and encrypted:
            new = ring.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")  # type: ignore[attr-defined]
        else:
            continue
        conn.execute(sa.update(_channels).where(_channels.c.id == cid).values(secret=new))


def upgrade() -> None:
    _rewrite(encrypting=True)


def downgrade() -> None:
    _rewrite(encrypting=False)
