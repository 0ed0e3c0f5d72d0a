"""Push: webhook secrets encrypted at rest.

Revision ID: 0103_push_secrets
Revises: 0102_push_fanout
Create Date: 2026-11-26

Until now ``push_channels.secret`` held the shared secret in plain text. This revision
encrypts every plain value with the store's key (``push.secrets``: the
``POLICY_MATCH_SECRET_KEY`` environment variable, or a generated 0600 key file) and
stores ``fernet:<token>``. The column stays ``TEXT``. Downgrading decrypts them back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0103_push_secrets"
down_revision = "0102_push_fanout"
branch_labels = None
depends_on = None

_channels = sa.table("push_channels", sa.column("id"), sa.column("secret"))


def _rewrite(encrypting: bool) -> None:
    from push import secrets

    conn = op.get_bind()
    url = conn.engine.url
    rows = conn.execute(sa.select(_channels.c.id, _channels.c.secret)
                        .where(_channels.c.secret.is_not(None))).all()
    for cid, value in rows:
        encrypted = value.startswith(secrets.PREFIX)
        if encrypting and not encrypted:
            new = secrets.encrypt(url, value)
        elif not encrypting and encrypted:
            new = secrets.decrypt(url, value)
        else:
            continue
        conn.execute(sa.update(_channels).where(_channels.c.id == cid).values(secret=new))


def upgrade() -> None:
    _rewrite(encrypting=True)


def downgrade() -> None:
    _rewrite(encrypting=False)
