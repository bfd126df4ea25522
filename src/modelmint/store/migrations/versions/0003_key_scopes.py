"""API key modes, scopes and expiry; test usage kept apart; tenant currency and contacts;
idempotency keys; tenant rate and concurrency limits, budgets; invoices; alerts and tenant webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(4), nullable=False, server_default="live"))
        batch_op.add_column(sa.Column("scenarios", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("access", sa.String(5), nullable=False, server_default="write")
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("usage") as batch_op:
        batch_op.add_column(
            sa.Column("live", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(3), nullable=True))
        batch_op.add_column(sa.Column("contact_name", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(320), nullable=True))
        batch_op.add_column(
            sa.Column("discount_bp", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("webhook_url", sa.String(2000), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(64), nullable=True))

    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("tenant_rate_limit_rps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrent", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("budget_micros", sa.BigInteger(), nullable=True))
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("used_units", sa.BigInteger(), nullable=False),
        sa.Column("cap_units", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alerts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "tenant_id", "period", "kind", "threshold", name=op.f("uq_alerts_tenant_id")
        ),
    )
    op.create_index(op.f("ix_alerts_tenant_id"), "alerts", ["tenant_id"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("refers_to", sa.String(40), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("subtotal_micros", sa.BigInteger(), nullable=False),
        sa.Column("discount_micros", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("tax_micros", sa.BigInteger(), nullable=False),
        sa.Column("total_micros", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedupe", sa.String(60), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("dedupe", name=op.f("uq_invoices_dedupe")),
    )
    op.create_index(op.f("ix_invoices_tenant_id"), "invoices", ["tenant_id"])
    op.create_table(
        "rate_buckets",
        sa.Column("bucket", sa.String(120), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "inflight",
        sa.Column("lease", sa.String(64), nullable=False),
        sa.Column("bucket", sa.String(120), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("lease", name=op.f("pk_inflight")),
    )
    op.create_index(op.f("ix_inflight_bucket"), "inflight", ["bucket"])
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_keys_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_tenant_id"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_invoices_tenant_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_inflight_bucket"), table_name="inflight")
    op.drop_table("inflight")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("budget_micros")
        batch_op.drop_column("max_concurrent")
        batch_op.drop_column("tenant_rate_limit_rps")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("webhook_url")
        batch_op.drop_column("discount_bp")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("currency")
    with op.batch_alter_table("usage") as batch_op:
        batch_op.drop_column("live")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("access")
        batch_op.drop_column("scenarios")
        batch_op.drop_column("mode")
