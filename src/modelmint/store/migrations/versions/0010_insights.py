"""Insights: the version that answered each metered call (revenue per model version), the ledger
rolled up by hour (written with the calls from now on; built here from the rows already kept),
a covering index for invoice segments, and dated exchange rates

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

KEY = "hour, tenant_id, scenario, unit_type, model_version, live, shadow"


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch_op:
        batch_op.add_column(sa.Column("model_version", sa.Integer(), nullable=True))
        batch_op.drop_index("ix_usage_tenant_period")
        batch_op.create_index(
            "ix_usage_tenant_period",
            ["tenant_id", "period", "created_at", "scenario", "unit_type", "live", "units"],
        )
    # calls metered before this revision: the version of their logged predictions
    op.execute(
        "UPDATE usage SET model_version = (SELECT MIN(p.model_version) FROM predictions p "
        "WHERE p.request_id = usage.request_id AND (p.arm IS NULL OR p.arm <> 'shadow'))"
    )
    op.create_table(
        "usage_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(100), nullable=False),
        sa.Column("unit_type", sa.String(20), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("measured", sa.BigInteger(), nullable=False),
        sa.Column("compute_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_usage_hourly_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint(
            "hour",
            "tenant_id",
            "scenario",
            "unit_type",
            "model_version",
            "live",
            "shadow",
            name="pk_usage_hourly",
        ),
    )
    op.create_index("ix_usage_hourly_period", "usage_hourly", ["period"])
    op.create_index("ix_usage_hourly_tenant", "usage_hourly", ["tenant_id", "period", "hour"])
    if op.get_bind().dialect.name == "postgresql":
        hour = "date_trunc('hour', {})"
    else:  # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text
        hour = "strftime('%Y-%m-%d %H:00:00.000000', {})"
    # the calls and units of every usage row ...
    op.execute(
        f"INSERT INTO usage_hourly ({KEY}, period, calls, units, predictions, measured, "
        f"compute_ms) SELECT {hour.format('u.created_at')}, u.tenant_id, u.scenario, "
        "u.unit_type, COALESCE(u.model_version, 0), u.live, false, MIN(u.period), COUNT(*), "
        "SUM(u.units), 0, 0, 0 FROM usage u WHERE 1 = 1 GROUP BY "
        f"{hour.format('u.created_at')}, u.tenant_id, u.scenario, u.unit_type, "
        "COALESCE(u.model_version, 0), u.live"
    )
    # ... and the predictions logged with them, shadow ones apart (their time is the call's)
    shadow = "CASE WHEN p.arm = 'shadow' THEN true ELSE false END"
    op.execute(
        f"INSERT INTO usage_hourly ({KEY}, period, calls, units, predictions, measured, "
        f"compute_ms) SELECT {hour.format('u.created_at')}, u.tenant_id, u.scenario, "
        f"u.unit_type, p.model_version, u.live, {shadow}, MIN(u.period), 0, 0, COUNT(*), "
        "COUNT(p.compute_ms), COALESCE(SUM(p.compute_ms), 0) FROM predictions p JOIN usage u "
        "ON u.request_id = p.request_id WHERE 1 = 1 GROUP BY "
        f"{hour.format('u.created_at')}, u.tenant_id, u.scenario, u.unit_type, p.model_version, "
        f"u.live, {shadow} ON CONFLICT ({KEY}) DO UPDATE SET predictions = "
        "excluded.predictions, measured = excluded.measured, compute_ms = excluded.compute_ms"
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
    op.drop_index("ix_usage_hourly_tenant", table_name="usage_hourly")
    op.drop_index("ix_usage_hourly_period", table_name="usage_hourly")
    op.drop_table("usage_hourly")
    with op.batch_alter_table("usage") as batch_op:
        batch_op.drop_index("ix_usage_tenant_period")
        batch_op.create_index("ix_usage_tenant_period", ["tenant_id", "period"])
        batch_op.drop_column("model_version")
