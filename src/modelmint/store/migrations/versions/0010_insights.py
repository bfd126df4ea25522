"""The version that answered each metered call (revenue per model version), and dated exchange
rates for insights

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch_op:
        batch_op.add_column(sa.Column("model_version", sa.Integer(), nullable=True))
    # calls metered before this revision: the version of their logged predictions
    op.execute(
        "UPDATE usage SET model_version = (SELECT MIN(p.model_version) FROM predictions p "
        "WHERE p.request_id = usage.request_id AND (p.arm IS NULL OR p.arm <> 'shadow'))"
    )
    op.create_table(
        "fx_rates",
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("quote", sa.String(3), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("base", "quote", "day", name="pk_fx_rates"),
    )


def downgrade() -> None:
    op.drop_table("fx_rates")
    with op.batch_alter_table("usage") as batch_op:
        batch_op.drop_column("model_version")
