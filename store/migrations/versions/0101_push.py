"""Push notifications: verdict snapshots, outbox/inbox, subscriptions, channels, deliveries.

Revision ID: 0101_push
Revises: 0001_store_initial
Create Date: 2026-11-26

Owned by the ``push`` package (``push/tables.py`` is the code's view of these tables).
It branches from the initial store revision; ``store.migrate.upgrade`` applies every
head, so it needs no knowledge of other packages' revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_push"
down_revision = "0001_store_initial"
branch_labels = ("push",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "push_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_push_state"),
    )
    op.create_table(
        "push_verdicts",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("unknown", sa.Text, nullable=False),
        sa.Column("met", sa.Text, nullable=False),
        sa.Column("review", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("uscc", "policy_id", name="pk_push_verdicts"),
    )
    op.create_index("ix_push_verdicts_policy_id", "push_verdicts", ["policy_id"])
    op.create_table(
        "push_notifications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("unknown", sa.Text, nullable=False),
        sa.Column("met", sa.Text, nullable=False),
        sa.Column("review", sa.Text, nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("days_left", sa.Integer),
        sa.Column("valid_until", sa.Date),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("read_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_push_notifications"),
        sa.UniqueConstraint("uscc", "policy_id", "event", "version",
                            name="uq_push_notifications_uscc_policy_id_event_version"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("digest", sa.String(16), nullable=False),
        sa.Column("daily_cap", sa.Integer, nullable=False),
        sa.Column("muted_topics", sa.JSON, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("uscc", name="pk_push_subscriptions"),
    )
    op.create_table(
        "push_channels",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("unsubscribe_token", sa.String(64), nullable=False),
        sa.Column("unsubscribed_at", Timestamp),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_until", Timestamp),
        sa.Column("cap_day", sa.Date),
        sa.Column("cap_used", sa.Integer, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_channels"),
        sa.ForeignKeyConstraint(["uscc"], ["push_subscriptions.uscc"],
                                name="fk_push_channels_uscc_push_subscriptions",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("uscc", "kind", "target", name="uq_push_channels_uscc_kind_target"),
        sa.UniqueConstraint("unsubscribe_token", name="uq_push_channels_unsubscribe_token"),
    )
    op.create_table(
        "push_deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.BigInteger, nullable=False),
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("due_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("message_id", sa.String(64)),
        sa.Column("sent_at", Timestamp),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_deliveries"),
        sa.ForeignKeyConstraint(["notification_id"], ["push_notifications.id"],
                                name="fk_push_deliveries_notification_id_push_notifications",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["channel_id"], ["push_channels.id"],
                                name="fk_push_deliveries_channel_id_push_channels",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("notification_id", "channel_id",
                            name="uq_push_deliveries_notification_id_channel_id"),
    )
    op.create_index("ix_push_deliveries_channel_id_state_due_at", "push_deliveries",
                    ["channel_id", "state", "due_at"])
    op.create_index("ix_push_deliveries_state_due_at", "push_deliveries", ["state", "due_at"])


def downgrade() -> None:
    for table in ("push_deliveries", "push_channels", "push_subscriptions",
                  "push_notifications", "push_verdicts", "push_state"):
        op.drop_table(table)
