"""Initial store: state counters, imports, firms, policies, runs, match results, keys, audit.

Revision ID: 0001_store_initial
Revises:
Create Date: 2026-11-26

Tables are written out here rather than taken from ``store.schema``: a migration is
history and must keep building the schema it built on the day it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_store_initial"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "store_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_state"),
    )
    op.bulk_insert(
        sa.table("store_state", sa.column("key", sa.String), sa.column("value", sa.BigInteger)),
        [
            {"key": "firms_revision", "value": 0},
            {"key": "policies_revision", "value": 0},
            {"key": "published_revision", "value": 0},
        ],
    )
    op.create_table(
        "imports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("as_of", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n_records", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_table(
        "firms",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region_code", sa.String(6)),
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
        sa.Column("import_id", sa.BigInteger),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("uscc", name="pk_firms"),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name="fk_firms_import_id_imports"),
    )
    op.create_index("ix_firms_region_code", "firms", ["region_code"])
    op.create_index("ix_firms_revision", "firms", ["revision"])
    op.create_table(
        "policies",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("issued_on", sa.Date),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source_url", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("published_at", Timestamp),
        sa.Column("withdrawn_at", Timestamp),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policies"),
    )
    op.create_index("ix_policies_state", "policies", ["state"])
    op.create_index("ix_policies_revision", "policies", ["revision"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "match_results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("unmet", sa.Text, nullable=False),
        sa.Column("unknown", sa.Text, nullable=False),
        sa.Column("score", sa.Float),
        sa.PrimaryKeyConstraint("run_id", "policy_id", "uscc", name="pk_match_results"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_match_results_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_match_results_run_id_uscc", "match_results", ["run_id", "uscc"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("uscc", sa.String(18)),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    for table in ("audit_log", "api_keys", "match_results", "runs", "policies", "firms",
                  "imports", "store_state"):
        op.drop_table(table)
