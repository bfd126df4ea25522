"""Idempotency keys are stored as their SHA-256, never as sent (clients put order numbers,
emails or phone numbers in them): hash the keys stored so far. No column changes: the digest
(64 hex characters) fits the key column. Idempotency records never expire, so old rows are
rewritten rather than left to age out; a retry of a request stored before this migration is
still recognised, because lookups hash the key they are given.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

_keys = sa.table(
    "idempotency_keys",
    sa.column("tenant_id", sa.Integer),
    sa.column("key", sa.String),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_keys.c.tenant_id, _keys.c.key)).all()
    change = (
        _keys.update()
        .where(_keys.c.tenant_id == sa.bindparam("t"), _keys.c.key == sa.bindparam("raw"))
        .values(key=sa.bindparam("digest"))
    )
    for start in range(0, len(rows), 1000):
        conn.execute(
            change,
            [
                {"t": tenant_id, "raw": key, "digest": hashlib.sha256(key.encode()).hexdigest()}
                for tenant_id, key in rows[start : start + 1000]
            ],
        )


def downgrade() -> None:
    # A digest cannot be turned back into its key. The rows stay; the older code looks keys up
    # as sent and finds none of them, so a retry sent after a downgrade is metered again.
    pass
