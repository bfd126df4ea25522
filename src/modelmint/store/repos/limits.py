"""Token buckets and calls in flight for the database rate-limit backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from modelmint.store import tables as t
from modelmint.store.db import Database
from modelmint.store.repos.common import insert_ignore


class LimitRepo:
    """Token buckets and calls in flight, for the database rate-limit backend. Each call is one
    write transaction; the bucket's row is locked (PostgreSQL) or the database is (SQLite)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _locked_bucket(self, c: Any, bucket: str, tokens: float, now: float) -> tuple[float, float]:
        c.execute(
            insert_ignore(self.db.dialect, t.rate_buckets).values(
                bucket=bucket, tokens=tokens, at=now
            )
        )
        row = c.execute(
            select(t.rate_buckets.c.tokens, t.rate_buckets.c.at)
            .where(t.rate_buckets.c.bucket == bucket)
            .with_for_update()
        ).first()
        assert row is not None
        return float(row[0]), float(row[1])

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        with self.db.write() as c:
            tokens, at = self._locked_bucket(c, bucket, cap, now)
            tokens = min(cap, tokens + max(0.0, now - at) * rate)
            wait = (1.0 - tokens) / rate if tokens < 1.0 else 0.0
            c.execute(
                update(t.rate_buckets)
                .where(t.rate_buckets.c.bucket == bucket)
                .values(tokens=tokens if wait else tokens - 1.0, at=now)
            )
        return wait

    def enter(self, bucket: str, lease: str, limit: int, now: float, expires: float) -> bool:
        with self.db.write() as c:
            self._locked_bucket(c, "inflight:" + bucket, 0.0, now)  # the tenant's mutex
            c.execute(
                delete(t.inflight).where(t.inflight.c.bucket == bucket, t.inflight.c.expires <= now)
            )
            n = c.execute(
                select(func.count()).select_from(t.inflight).where(t.inflight.c.bucket == bucket)
            ).scalar()
            if int(n or 0) >= limit:
                return False
            c.execute(insert(t.inflight).values(lease=lease, bucket=bucket, expires=expires))
        return True

    def leave(self, lease: str) -> None:
        with self.db.write() as c:
            c.execute(delete(t.inflight).where(t.inflight.c.lease == lease))
