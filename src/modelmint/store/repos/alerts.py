"""Usage alerts (80% and 100% of a quota or budget): written by the metering transaction,
delivered by the job worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc
from modelmint.store.repos.common import as_dicts


class AlertRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, tenant_id: int | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(t.alerts, t.tenants.c.name.label("tenant"))
                .join(t.tenants, t.tenants.c.id == t.alerts.c.tenant_id)
                .order_by(t.alerts.c.created_at, t.alerts.c.threshold)
            )
            if tenant_id is not None:
                q = q.where(t.alerts.c.tenant_id == tenant_id)
            return [self._out(r) for r in as_dicts(c.execute(q))]

    def due(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(
                    t.alerts,
                    t.tenants.c.name.label("tenant"),
                    t.tenants.c.webhook_url,
                    t.tenants.c.webhook_secret,
                )
                .join(t.tenants, t.tenants.c.id == t.alerts.c.tenant_id)
                .where(t.alerts.c.status == "pending", t.alerts.c.next_attempt_at <= now)
                .order_by(t.alerts.c.created_at)
                .limit(limit)
            )
            return [self._out(r) for r in as_dicts(c.execute(q))]

    def mark(self, alert_id: str, **values: Any) -> None:
        with self.db.write() as c:
            c.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(**values))

    @staticmethod
    def _out(row: dict[str, Any]) -> dict[str, Any]:
        for k in ("created_at", "next_attempt_at"):
            row[k] = as_utc(row[k])
        return row
