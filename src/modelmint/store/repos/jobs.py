"""The job queue: retrains and other long work that a worker claims."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, select, update

from modelmint.errors import NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, new_id, utcnow
from modelmint.store.repos.common import as_dict, as_dicts


class JobRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            kind=kind,
            params=params,
            status="queued",
            progress=0.0,
            message="queued",
            result=None,
            worker=None,
            created_at=utcnow(),
            started_at=None,
            finished_at=None,
        )
        with self.db.write() as c:
            c.execute(insert(t.jobs).values(**values))
        return values

    def claim_next(self, worker: str) -> dict[str, Any] | None:
        """Atomically take the oldest queued job (compare-and-set on status)."""
        with self.db.write() as c:
            row = as_dict(
                c.execute(
                    select(t.jobs).where(t.jobs.c.status == "queued").order_by(t.jobs.c.id).limit(1)
                ).first()
            )
            if row is None:
                return None
            now = utcnow()
            res = c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == row["id"], t.jobs.c.status == "queued")
                .values(
                    status="running",
                    worker=worker,
                    started_at=now,
                    heartbeat_at=now,
                    attempts=t.jobs.c.attempts + 1,
                    message="started",
                )
            )
            if res.rowcount != 1:
                return None
            row.update(status="running", worker=worker)
            return row

    def queued(self) -> int:
        with self.db.read() as c:
            q = select(func.count()).select_from(t.jobs).where(t.jobs.c.status == "queued")
            return int(c.execute(q).scalar() or 0)

    def progress(self, job_id: str, progress: float, message: str) -> None:
        """Progress, and a heartbeat that keeps the job's lease."""
        with self.db.write() as c:
            c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(progress=progress, message=message[:2000], heartbeat_at=utcnow())
            )

    def requeue_stale(self, lease_seconds: float, max_attempts: int = 3) -> int:
        """Running jobs whose worker has not been heard from within the lease go back to the
        queue (or fail after `max_attempts`). Returns how many were requeued or failed."""
        from datetime import timedelta

        cutoff = utcnow() - timedelta(seconds=lease_seconds)
        stale = and_(t.jobs.c.status == "running", t.jobs.c.heartbeat_at < cutoff)
        with self.db.write() as c:
            n = c.execute(
                update(t.jobs)
                .where(stale, t.jobs.c.attempts < max_attempts)
                .values(status="queued", worker=None, message="requeued: its worker stopped")
            ).rowcount
            n += c.execute(
                update(t.jobs)
                .where(stale, t.jobs.c.attempts >= max_attempts)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    message=f"its worker stopped {max_attempts} times; giving up",
                )
            ).rowcount
        return n

    def finish(self, job_id: str, status: str, message: str, result: dict | None) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(
                    status=status,
                    progress=1.0 if status == "done" else t.jobs.c.progress,
                    message=message[:2000],
                    result=result,
                    finished_at=utcnow(),
                )
            )

    def get(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(c.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first())
        if row is None:
            raise NotFound(f"job '{job_id}' does not exist")
        return row

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as c:
            return as_dicts(c.execute(select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)))
