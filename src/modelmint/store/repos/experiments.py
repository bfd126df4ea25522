"""Experiments: start (one running per scenario, enforced by a partial unique index), stop,
the bandit's share, and the per-arm totals the statistics are computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict
from modelmint.store import tables as t
from modelmint.store.db import Database, new_id
from modelmint.store.repos.common import as_dict, as_dicts, upsert

ARMS = ("production", "challenger")


class ExperimentRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, *, now: datetime, **fields: Any) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            status="running",
            started_at=now,
            stopped_at=None,
            share_at=None,
            decision=None,
            **fields,
        )
        try:
            with self.db.write() as c:
                c.execute(insert(t.experiments).values(**values))
        except IntegrityError:
            raise Conflict(
                f"an experiment is already running on '{fields['scenario']}'; stop it first with "
                f"`modelmint experiments stop {fields['scenario']}`"
            ) from None
        return values

    def running(self, scenario: str | None = None) -> list[dict[str, Any]]:
        e = t.experiments.c
        q = select(t.experiments).where(e.status == "running").order_by(e.scenario)
        if scenario is not None:
            q = q.where(e.scenario == scenario)
        with self.db.read() as c:
            return as_dicts(c.execute(q))

    def latest(self, scenario: str) -> dict[str, Any] | None:
        e = t.experiments.c
        q = (
            select(t.experiments)
            .where(e.scenario == scenario)
            .order_by(e.started_at.desc(), e.id.desc())
            .limit(1)
        )
        with self.db.read() as c:
            return as_dict(c.execute(q).first())

    def stop(self, experiment_id: str, decision: dict[str, Any], now: datetime) -> bool:
        """Stop a running experiment; False when it was no longer running (a concurrent stop)."""
        e = t.experiments.c
        with self.db.write() as c:
            done = c.execute(
                update(t.experiments)
                .where(e.id == experiment_id, e.status == "running")
                .values(status="stopped", stopped_at=now, decision=decision)
            )
            return bool(done.rowcount)

    def set_share(self, experiment_id: str, share: float, now: datetime) -> None:
        e = t.experiments.c
        with self.db.write() as c:
            c.execute(
                update(t.experiments)
                .where(e.id == experiment_id, e.status == "running")
                .values(share=share, share_at=now)
            )

    # --- what the statistics read ------------------------------------------------------------
    def arm_totals(self, exp: dict[str, Any], metric: str | None) -> dict[str, dict[str, Any]]:
        """Per arm (production, challenger): predictions answered since the experiment started,
        those with the `metric` outcome, and the sum and sum of squares of its value per
        prediction."""
        p, o = t.predictions.c, t.outcomes.c
        window = and_(
            p.scenario == exp["scenario"],
            p.created_at >= exp["started_at"],
            p.arm.in_(ARMS),
            *([p.created_at <= exp["stopped_at"]] if exp.get("stopped_at") else []),
        )
        per_prediction = (
            select(
                o.prediction_id.label("pid"),
                func.sum(func.coalesce(o.value, 0.0)).label("v"),
            )
            .where(o.event == (metric or ""))
            .group_by(o.prediction_id)
            .subquery()
        )
        q = (
            select(
                p.arm,
                func.count(p.id),
                func.count(per_prediction.c.pid),
                func.coalesce(func.sum(per_prediction.c.v), 0.0),
                func.coalesce(func.sum(per_prediction.c.v * per_prediction.c.v), 0.0),
            )
            .select_from(t.predictions)
            .outerjoin(per_prediction, per_prediction.c.pid == p.id)
            .where(window)
            .group_by(p.arm)
        )
        out = {arm: {"calls": 0, "successes": 0, "value": 0.0, "value_sq": 0.0} for arm in ARMS}
        with self.db.read() as c:
            for arm, n, k, v, v2 in c.execute(q):
                out[arm] = {"calls": n, "successes": k, "value": float(v), "value_sq": float(v2)}
        return out

    def labelled_by_arm(self, exp: dict[str, Any]) -> dict[str, dict[str, int]]:
        """Per arm: predictions with feedback, and how many were right (latest feedback)."""
        p, f = t.predictions.c, t.feedback.c
        latest = (
            select(f.prediction_id, func.max(f.id).label("fid"))
            .group_by(f.prediction_id)
            .subquery()
        )
        q = (
            select(
                p.arm,
                func.count(p.id),
                func.sum(case((f.label == p.label, 1), else_=0)),
            )
            .join(latest, latest.c.prediction_id == p.id)
            .join(t.feedback, f.id == latest.c.fid)
            .where(
                p.scenario == exp["scenario"], p.created_at >= exp["started_at"], p.arm.in_(ARMS)
            )
            .group_by(p.arm)
        )
        out = {arm: {"labelled": 0, "right": 0} for arm in ARMS}
        with self.db.read() as c:
            for arm, n, right in c.execute(q):
                out[arm] = {"labelled": n, "right": int(right or 0)}
        return out

    def shadow_pairs(self, exp: dict[str, Any]) -> dict[str, Any]:
        """Shadow predictions with their production twin: how many, how many agree, where the
        twin has feedback how many each got right, and the compute milliseconds of each side
        (over the pairs whose shadow was measured)."""
        p = t.predictions.alias("p")
        s = t.predictions.alias("s")
        f = t.feedback.c
        latest = (
            select(f.prediction_id, func.max(f.id).label("fid"))
            .group_by(f.prediction_id)
            .subquery()
        )
        fb = t.feedback.alias("fb")
        q = (
            select(
                func.count(s.c.id),
                func.sum(case((s.c.label == p.c.label, 1), else_=0)),
                func.count(fb.c.id),
                func.sum(case((and_(fb.c.id.is_not(None), fb.c.label == p.c.label), 1), else_=0)),
                func.sum(case((and_(fb.c.id.is_not(None), fb.c.label == s.c.label), 1), else_=0)),
                func.sum(s.c.compute_ms),
                func.sum(p.c.compute_ms),
                func.count(s.c.compute_ms),
            )
            .select_from(s)
            .join(p, p.c.id == s.c.paired_id)
            .outerjoin(latest, latest.c.prediction_id == p.c.id)
            .outerjoin(fb, fb.c.id == latest.c.fid)
            .where(
                s.c.scenario == exp["scenario"],
                s.c.arm == "shadow",
                s.c.created_at >= exp["started_at"],
            )
        )
        with self.db.read() as c:
            row = c.execute(q).one()
        n, agree, labelled, prod_right, shadow_right, shadow_ms, prod_ms, measured = row
        return {
            "pairs": int(n or 0),
            "agree": int(agree or 0),
            "labelled": int(labelled or 0),
            "production_right": int(prod_right or 0),
            "challenger_right": int(shadow_right or 0),
            "measured": int(measured or 0),
            "challenger_compute_ms": float(shadow_ms or 0.0),
            "production_compute_ms": float(prod_ms or 0.0),
        }


class PolicyRepo:
    """Retraining policies, one per scenario, and the record of their runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, scenario: str, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
        stmt = upsert(self.db.dialect, t.policies).values(
            scenario=scenario, spec=spec, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["scenario"], set_={"spec": spec, "updated_at": now}
        )
        with self.db.write() as c:
            c.execute(stmt)
        got = self.get(scenario)
        assert got is not None
        return got

    def get(self, scenario: str) -> dict[str, Any] | None:
        with self.db.read() as c:
            return as_dict(
                c.execute(select(t.policies).where(t.policies.c.scenario == scenario)).first()
            )

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as c:
            return as_dicts(c.execute(select(t.policies).order_by(t.policies.c.scenario)))

    def ran(self, scenario: str, trigger: str, job_id: str | None, now: datetime) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.policies)
                .where(t.policies.c.scenario == scenario)
                .values(last_run_at=now, last_trigger=trigger, last_job_id=job_id)
            )

    def labels_since(self, scenario: str, since: datetime | None) -> int:
        """Feedback labels on the scenario's predictions given after `since`."""
        p, f = t.predictions.c, t.feedback.c
        q = (
            select(func.count(f.id))
            .join(t.predictions, p.id == f.prediction_id)
            .where(p.scenario == scenario)
        )
        if since is not None:
            q = q.where(f.created_at > since)
        with self.db.read() as c:
            return int(c.execute(q).scalar() or 0)

    def drift_alert_since(self, scenario: str, since: datetime | None) -> bool:
        a = t.monitor_alerts.c
        q = select(func.count(a.id)).where(a.scenario == scenario, a.signal == "input_drift")
        if since is not None:
            q = q.where(a.raised_at > since)
        with self.db.read() as c:
            return bool(c.execute(q).scalar())
