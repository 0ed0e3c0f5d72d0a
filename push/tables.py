"""The push tables, on the store's ``metadata`` (built by migration ``0101_push``).

Why these shapes:

* ``push_snapshots`` is what each firm was last told per policy — the "previous" side
  of :func:`matcher.changes.newly_matched` — stored columnar: one row per (policy,
  bucket of firms) holding a compressed Arrow blob of (uscc, status, amount, unknown,
  met, review, version, as_of) (``push.snapshots``, ``push.columnar``). A policy that
  matches a million firms is a few hundred rows, not a million. It is sparse: a pair
  gets an entry only once it is worth telling and keeps it after, so its ``version``
  keeps counting and a firm that becomes eligible again is told again. ``seq`` counts
  the rewrites of a blob.
* ``push_fanout`` is the compact outbox: one row per (policy, bucket, snapshot seq)
  with the events of that snapshot change as a compressed blob, written in the same
  transaction as the snapshot (unique key: a rerun cannot enqueue it twice). The
  dispatcher expands it into ``push_notifications`` + ``push_deliveries`` when it
  claims it (``push.fanout``), idempotently, in one transaction.
* ``push_notifications`` is the expanded outbox and the in-app inbox at once: one row
  per (firm, policy, event, verdict version), enforced by a unique key, so expanding a
  fan-out row twice (a crash, two dispatchers) can never enqueue the same news twice.
  ``read_at`` is the inbox's read mark. It keeps the facts (status, amount, fields,
  conditions met) as plain columns, not rendered text: expanding 100,000 events must
  stay cheap, and the Chinese message is rendered from them when it is sent or read
  (``push.messages``).
* ``push_deliveries`` is one row per (notification, channel): what the dispatcher
  claims, retries with backoff and finally marks ``sent`` or ``dead``.
* ``push_channels`` carries the dispatcher's lease (``claim_token``/``claimed_until``):
  one dispatcher at a time owns a channel, which is what makes the daily cap and the
  digest exact without counting races between processes.
* The webhook ``secret`` is stored encrypted (``push.secrets``, Fernet, ``fernet:<token>``):
  signing needs it back, so it cannot be hashed, and a copy of the database alone must
  not be enough to forge signatures.
"""

from __future__ import annotations

import sqlalchemy as sa

from store.schema import BigId, Timestamp, metadata

DIGEST_MODES: tuple[str, ...] = ("immediate", "daily")
CHANNEL_KINDS: tuple[str, ...] = ("webhook", "email")
DELIVERY_STATES: tuple[str, ...] = ("pending", "sent", "dead", "cancelled")

push_state = sa.Table(
    "push_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

push_snapshots = sa.Table(
    "push_snapshots",
    metadata,
    sa.Column("policy_id", sa.String(200), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

push_fanout = sa.Table(
    "push_fanout",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("bucket", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("valid_until", sa.Date),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expanded_at", Timestamp),
    sa.UniqueConstraint("policy_id", "bucket", "seq"),
    sa.Index("ix_push_fanout_expanded_at_id", "expanded_at", "id"),
    sa.Index("ix_push_fanout_bucket_expanded_at", "bucket", "expanded_at"),
)

push_notifications = sa.Table(
    "push_notifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
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
    # Also the inbox's index: it starts with uscc, and one firm's rows are few to sort.
    sa.UniqueConstraint("uscc", "policy_id", "event", "version"),
)

push_subscriptions = sa.Table(
    "push_subscriptions",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("digest", sa.String(16), nullable=False),
    sa.Column("daily_cap", sa.Integer, nullable=False),
    sa.Column("muted_topics", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

push_channels = sa.Table(
    "push_channels",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uscc", sa.String(18),
              sa.ForeignKey("push_subscriptions.uscc", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("secret", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
    sa.Column("unsubscribed_at", Timestamp),
    sa.Column("claim_token", sa.String(32)),
    sa.Column("claimed_until", Timestamp),
    sa.Column("cap_day", sa.Date),
    sa.Column("cap_used", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("uscc", "kind", "target"),
)

push_deliveries = sa.Table(
    "push_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.BigInteger,
              sa.ForeignKey("push_notifications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel_id", sa.BigInteger,
              sa.ForeignKey("push_channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("digest", sa.Boolean, nullable=False),
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.String(64)),
    sa.Column("sent_at", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("notification_id", "channel_id"),
    sa.Index("ix_push_deliveries_channel_id_state_due_at", "channel_id", "state", "due_at"),
    sa.Index("ix_push_deliveries_state_due_at", "state", "due_at"),
)

PUSH_TABLES: tuple[sa.Table, ...] = (
    push_state, push_snapshots, push_fanout, push_notifications, push_subscriptions,
    push_channels, push_deliveries,
)
