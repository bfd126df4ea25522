"""Versioned plans with subscription fees, included units, per-scenario and per-unit-type
prices, volume tiers and trial days; tenants' trial end and plan history (for proration)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_constraint("uq_plans_name", type_="unique")
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("prices", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tiers", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("tier_mode", sa.String(10), nullable=False, server_default="graduated")
        )
        batch_op.add_column(
            sa.Column("fee_micros", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("included_units", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("trial_days", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_unique_constraint("uq_plans_name_version", ["name", "version"])
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "tenant_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_plans_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_tenant_plans_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_plans")),
    )
    op.create_index(op.f("ix_tenant_plans_tenant_id"), "tenant_plans", ["tenant_id"])
    # every existing tenant has been on its plan since it was created
    op.execute(
        "INSERT INTO tenant_plans (tenant_id, plan_id, starts_at) "
        "SELECT id, plan_id, created_at FROM tenants"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_plans_tenant_id"), table_name="tenant_plans")
    op.drop_table("tenant_plans")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("trial_ends_at")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_constraint("uq_plans_name_version", type_="unique")
        for col in ("trial_days", "included_units", "fee_micros", "tier_mode", "tiers", "prices"):
            batch_op.drop_column(col)
        batch_op.drop_column("version")
        batch_op.create_unique_constraint("uq_plans_name", ["name"])
