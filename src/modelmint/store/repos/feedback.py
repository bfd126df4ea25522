"""The prediction log as feedback sees it: feedback labels and outcome events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, insert, select

from modelmint.errors import NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, new_id, utcnow
from modelmint.store.repos.common import as_dict, as_dicts


class FeedbackRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prediction(self, prediction_id: str, tenant_id: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(
                c.execute(
                    select(t.predictions).where(
                        t.predictions.c.id == prediction_id,
                        t.predictions.c.tenant_id == tenant_id,
                    )
                ).first()
            )
        if row is None:
            # the same answer for "absent" and "another tenant's": no existence oracle
            raise NotFound(
                f"prediction '{prediction_id}' not found; use an id returned by your own "
                "predict call"
            )
        return row

    def add_feedback(self, prediction_id: str, tenant_id: int, label: str) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            prediction_id=prediction_id,
            tenant_id=tenant_id,
            label=label,
            created_at=utcnow(),
        )
        with self.db.write() as c:
            c.execute(insert(t.feedback).values(**values))
        return values

    def add_outcome(
        self, prediction_id: str, tenant_id: int, event: str, value: float | None
    ) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            prediction_id=prediction_id,
            tenant_id=tenant_id,
            event=event,
            value=value,
            created_at=utcnow(),
        )
        with self.db.write() as c:
            c.execute(insert(t.outcomes).values(**values))
        return values

    def labelled(self, scenario: str) -> list[dict[str, Any]]:
        """Each prediction of `scenario` that has feedback, with its latest feedback label."""
        with self.db.read() as c:
            latest = (
                select(t.feedback.c.prediction_id, func.max(t.feedback.c.id).label("fid"))
                .group_by(t.feedback.c.prediction_id)
                .subquery()
            )
            q = (
                select(
                    t.predictions.c.id.label("prediction_id"),
                    t.predictions.c.input_text.label("text"),
                    t.predictions.c.label.label("predicted"),
                    t.predictions.c.model_version,
                    t.feedback.c.label,
                )
                .join(latest, latest.c.prediction_id == t.predictions.c.id)
                .join(t.feedback, t.feedback.c.id == latest.c.fid)
                .where(t.predictions.c.scenario == scenario)
                .order_by(t.predictions.c.id)
            )
            return as_dicts(c.execute(q))

    def counts(self, scenario: str | None = None) -> dict[str, Any]:
        with self.db.read() as c:

            def n(table: Any) -> int:
                q = select(func.count()).select_from(table)
                if scenario is not None:
                    q = q.join(t.predictions, t.predictions.c.id == table.c.prediction_id).where(
                        t.predictions.c.scenario == scenario
                    )
                return int(c.execute(q).scalar() or 0)

            preds = select(func.count()).select_from(t.predictions)
            if scenario is not None:
                preds = preds.where(t.predictions.c.scenario == scenario)
            return {
                "predictions": int(c.execute(preds).scalar() or 0),
                "feedback": n(t.feedback),
                "outcomes": n(t.outcomes),
            }

    def outcomes_by_version(self, scenario: str) -> list[dict[str, Any]]:
        """Per model version: predictions, outcomes, and predictions with a converting outcome."""
        with self.db.read() as c:
            q = (
                select(
                    t.predictions.c.model_version,
                    func.count(func.distinct(t.predictions.c.id)).label("predictions"),
                    func.count(t.outcomes.c.id).label("outcomes"),
                    func.sum(
                        case((t.outcomes.c.value.is_not(None), t.outcomes.c.value), else_=0)
                    ).label("value"),
                )
                .select_from(t.predictions)
                .outerjoin(t.outcomes, t.outcomes.c.prediction_id == t.predictions.c.id)
                .where(t.predictions.c.scenario == scenario)
                .group_by(t.predictions.c.model_version)
                .order_by(t.predictions.c.model_version)
            )
            return as_dicts(c.execute(q))
