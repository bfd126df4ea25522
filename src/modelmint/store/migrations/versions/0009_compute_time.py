"""Each logged prediction's compute time (its share of its batches), for the cost of serving
and of shadow experiments

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("compute_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("compute_ms")
