"""The prediction log as monitoring reads it (windows by time or count, their feedback and
outcomes), retention, and monitoring alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, null, select, update

from modelmint.store import tables as t
from modelmint.store.db import Database, as_times, new_id, paused_gc, raw_rows
from modelmint.store.repos.common import as_dicts

PURGE_BATCH = 5000


class MonitorRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def window(
        self,
        scenario: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        last: int | None = None,
        with_text: bool = True,
    ) -> tuple[Any, ...]:
        """The window as columns, oldest first: predictions created in [start, end), or the
        `last` N before `end` (after `start` if given). Columns: ids, versions, labels, scores,
        texts, drift payloads, created_at (UTC ``datetime64[us]``), arms; all but created_at
        are lists. ``with_text=False`` reads no text (the column is all None). Rows skip
        SQLAlchemy's result processing (`raw_rows`): a report reads a million-row window."""
        p = t.predictions.c
        text = p.input_text if with_text else null()
        q = select(p.id, p.model_version, p.label, p.score, text, p.drift, p.created_at, p.arm)
        q = q.where(p.scenario == scenario)
        if start is not None:
            q = q.where(p.created_at >= start)
        if end is not None:
            q = q.where(p.created_at < end)
        if last is not None:
            q = q.order_by(p.created_at.desc(), p.id.desc()).limit(last)
        else:
            q = q.order_by(p.created_at, p.id)
        columns: tuple[list[Any], ...] = tuple([] for _ in range(8))
        with self.db.read() as c, paused_gc():
            for part in raw_rows(c, q):
                for col, values in zip(columns, zip(*part, strict=True), strict=True):
                    col.extend(values)
        if last is not None:
            for col in columns:
                col.reverse()
        return (*columns[:6], as_times(columns[6]), columns[7])

    def feedback_for(self, scenario: str, start: datetime | None) -> dict[str, str]:
        """prediction id -> its latest feedback label, for the scenario's predictions created
        since `start`."""
        p, f = t.predictions.c, t.feedback.c
        q = (
            select(f.prediction_id, f.label)
            .join(t.predictions, p.id == f.prediction_id)
            .where(p.scenario == scenario)
            .order_by(f.id)
        )
        if start is not None:
            q = q.where(p.created_at >= start)
        with self.db.read() as c:
            return {pid: label for pid, label in c.execute(q)}

    def outcomes_for(
        self, scenario: str, start: datetime | None
    ) -> list[tuple[str, str, float | None]]:
        p, o = t.predictions.c, t.outcomes.c
        q = (
            select(o.prediction_id, o.event, o.value)
            .join(t.predictions, p.id == o.prediction_id)
            .where(p.scenario == scenario)
        )
        if start is not None:
            q = q.where(p.created_at >= start)
        with self.db.read() as c:
            return [tuple(r) for r in c.execute(q)]  # type: ignore[misc]

    def events(self, scenario: str) -> list[str]:
        p, o = t.predictions.c, t.outcomes.c
        q = (
            select(o.event)
            .join(t.predictions, p.id == o.prediction_id)
            .where(p.scenario == scenario)
            .distinct()
        )
        with self.db.read() as c:
            return sorted(r[0] for r in c.execute(q))

    def purge(self, before: datetime) -> int:
        """Delete predictions created before `before` that carry no feedback (labelled ones are
        training data for retraining), with their outcomes; usage rows are never touched.
        Returns how many predictions went."""
        p = t.predictions.c
        gone = 0
        while True:
            with self.db.write() as c:
                ids = [
                    r[0]
                    for r in c.execute(
                        select(p.id)
                        .where(
                            p.created_at < before,
                            ~exists().where(t.feedback.c.prediction_id == p.id),
                        )
                        .limit(PURGE_BATCH)
                    )
                ]
                if not ids:
                    return gone
                c.execute(delete(t.outcomes).where(t.outcomes.c.prediction_id.in_(ids)))
                c.execute(delete(t.predictions).where(p.id.in_(ids)))
                gone += len(ids)

    # --- alerts ------------------------------------------------------------------------------
    def open_alerts(self, scenario: str) -> dict[str, str]:
        a = t.monitor_alerts.c
        with self.db.read() as c:
            rows = c.execute(
                select(a.signal, a.id).where(a.scenario == scenario, a.state == "raised")
            )
            return {signal: aid for signal, aid in rows}

    def raise_alert(
        self,
        scenario: str,
        version: int,
        signal: str,
        details: dict[str, Any],
        now: datetime,
        *,
        delivery: str,
    ) -> str:
        aid = new_id()
        with self.db.write() as c:
            c.execute(
                insert(t.monitor_alerts).values(
                    id=aid,
                    scenario=scenario,
                    model_version=version,
                    signal=signal,
                    state="raised",
                    raised_at=now,
                    details=details,
                    delivery=delivery,
                    attempts=0,
                    next_attempt_at=now if delivery == "pending" else None,
                )
            )
        return aid

    def clear_alert(
        self, alert_id: str, details: dict[str, Any], now: datetime, *, delivery: str
    ) -> None:
        a = t.monitor_alerts.c
        with self.db.write() as c:
            old = c.execute(select(a.details).where(a.id == alert_id)).scalar() or {}
            c.execute(
                update(t.monitor_alerts)
                .where(a.id == alert_id, a.state == "raised")
                .values(
                    state="cleared",
                    cleared_at=now,
                    details={**old, "cleared": details},
                    delivery=delivery,
                    attempts=0,
                    next_attempt_at=now if delivery == "pending" else None,
                )
            )

    def alerts(self, scenario: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        a = t.monitor_alerts.c
        q = select(t.monitor_alerts).order_by(a.raised_at.desc(), a.id.desc()).limit(limit)
        if scenario is not None:
            q = q.where(a.scenario == scenario)
        with self.db.read() as c:
            return as_dicts(c.execute(q))

    def due(self, now: datetime) -> list[dict[str, Any]]:
        a = t.monitor_alerts.c
        q = (
            select(t.monitor_alerts)
            .where(and_(a.delivery == "pending", a.next_attempt_at <= now))
            .order_by(a.next_attempt_at)
        )
        with self.db.read() as c:
            return as_dicts(c.execute(q))

    def mark(self, alert_id: str, **values: Any) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.monitor_alerts).where(t.monitor_alerts.c.id == alert_id).values(**values)
            )

    def count(self, scenario: str) -> int:
        with self.db.read() as c:
            return int(
                c.execute(select(func.count()).where(t.predictions.c.scenario == scenario)).scalar()
                or 0
            )
