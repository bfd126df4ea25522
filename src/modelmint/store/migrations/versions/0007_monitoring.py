"""Monitoring: the prediction log keeps what drift needs per prediction (a bounded `drift`
payload) and the experiment arm; an index for windows by time; monitoring alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("drift", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("arm", sa.String(20), nullable=True))
    op.create_index("ix_predictions_scenario_created", "predictions", ["scenario", "created_at"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("scenario", sa.String(100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("signal", sa.String(40), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    op.create_index(op.f("ix_monitor_alerts_scenario"), "monitor_alerts", ["scenario"])


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_alerts_scenario"), table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_predictions_scenario_created", table_name="predictions")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("arm")
        batch_op.drop_column("drift")
