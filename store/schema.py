"""The tables as the code sees them today (SQLAlchemy Core).

The migrations in ``store/migrations/versions`` are the history that builds these
tables; a test compares the two on both backends so they cannot drift apart. Other
packages (push, runs) define their own tables in their own modules, on this same
``metadata``, and create them with their own migration revisions.

Why these shapes:

* ``firms`` has one column per contract field (DATA.md §1) so that bulk loads use
  ``COPY`` and the matcher reads a typed frame straight from SQL; lists
  (``qualifications``, ``tags``) are JSON. ``as_of`` is the date the imported data
  describes and ``imported_at`` when it arrived; ``import_id`` names the import.
* ``revision`` columns take a store-wide counter (``store_state``) so caches (the API's
  warm matcher) can ask "what changed since revision R" with one indexed query.
* ``policies`` keeps the whole contract document (JSON, minus the full text, which has
  its own column) plus the columns that lists filter on, a review ``state`` and a
  ``content_hash`` of what decides verdicts (conditions, benefits, window).
* ``api_keys`` stores a SHA-256 of the secret, never the secret.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere use 64 bits.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

POLICY_STATES: tuple[str, ...] = ("draft", "published", "withdrawn")
RUN_STATES: tuple[str, ...] = ("running", "done", "failed")
ROLES: tuple[str, ...] = ("admin", "officer", "analyst", "firm")

store_state = sa.Table(
    "store_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # profiles | policies
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("as_of", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("state", sa.String(16), nullable=False),  # running | done | failed
    sa.Column("n_records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("error", sa.Text),
)

firms = sa.Table(
    "firms",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region_code", sa.String(6), index=True),
    sa.Column("industry_code", sa.String(8)),
    sa.Column("established_on", sa.Date),
    sa.Column("employees", sa.BigInteger),
    sa.Column("revenue", sa.Float),
    sa.Column("total_assets", sa.Float),
    sa.Column("rd_expense", sa.Float),
    sa.Column("registered_capital", sa.Float),
    sa.Column("tax_paid", sa.Float),
    sa.Column("export_value", sa.Float),
    sa.Column("rd_expense_prev", sa.Float),
    sa.Column("rd_staff_ratio", sa.Float),
    sa.Column("high_tech_revenue_ratio", sa.Float),
    sa.Column("invention_patents", sa.BigInteger),
    sa.Column("utility_patents", sa.BigInteger),
    sa.Column("software_copyrights", sa.BigInteger),
    sa.Column("unemployment_insurance_months", sa.BigInteger),
    sa.Column("layoff_rate", sa.Float),
    sa.Column("tax_credit_rating", sa.String(1)),
    sa.Column("qualifications", sa.JSON),
    sa.Column("listed", sa.Boolean),
    sa.Column("serious_dishonesty", sa.Boolean),
    sa.Column("major_accident_3y", sa.Boolean),
    sa.Column("business_scope", sa.Text),
    sa.Column("products", sa.Text),
    sa.Column("tags", sa.JSON),
    sa.Column("as_of", Timestamp, nullable=False),
    sa.Column("imported_at", Timestamp, nullable=False),
    sa.Column("import_id", sa.BigInteger, sa.ForeignKey("imports.id")),
    sa.Column("revision", sa.BigInteger, nullable=False, index=True),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("issuer", sa.Text, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("issued_on", sa.Date),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_until", sa.Date),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("source_url", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("published_at", Timestamp),
    sa.Column("withdrawn_at", Timestamp),
    sa.Column("revision", sa.BigInteger, nullable=False, index=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("error", sa.Text),
)

match_results = sa.Table(
    "match_results",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("policy_id", sa.String(200), primary_key=True),
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("amount", sa.Float),
    sa.Column("unmet", sa.Text, nullable=False),
    sa.Column("unknown", sa.Text, nullable=False),
    sa.Column("score", sa.Float),
    sa.Index("ix_match_results_run_id_uscc", "run_id", "uscc"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("uscc", sa.String(18)),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
)
