"""Experiments between production and a challenger (at most one running per scenario), the
production twin of a shadow prediction, and retraining policies

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("paired_id", sa.String(26), nullable=True))
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("scenario", sa.String(100), nullable=False),
        sa.Column("production_version", sa.Integer(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("metric", sa.String(100), nullable=True),
        sa.Column("on_value", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("share_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(op.f("ix_experiments_scenario"), "experiments", ["scenario"])
    op.create_table(
        "policies",
        sa.Column("scenario", sa.String(100), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_trigger", sa.Text(), nullable=True),
        sa.Column("last_job_id", sa.String(26), nullable=True),
        sa.PrimaryKeyConstraint("scenario", name=op.f("pk_policies")),
    )
    op.create_index(
        "uq_experiments_running",
        "experiments",
        ["scenario"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_table("policies")
    op.drop_index("uq_experiments_running", table_name="experiments")
    op.drop_index(op.f("ix_experiments_scenario"), table_name="experiments")
    op.drop_table("experiments")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("paired_id")
