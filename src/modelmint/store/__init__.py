"""Persistence: the only package that imports SQLAlchemy and Alembic.

``open_store(url)`` returns a migrated :class:`Store`, whose repositories take and return plain
dicts, so the stages above never see a session or a table."""

from __future__ import annotations

from modelmint.store.db import Database, new_id, utcnow
from modelmint.store.repos import (
    AlertRepo,
    BillingRepo,
    DatasetRepo,
    ExperimentRepo,
    FeedbackRepo,
    InsightsRepo,
    InvoiceRepo,
    JobRepo,
    LimitRepo,
    ModelRepo,
    MonitorRepo,
    PolicyRepo,
)


class Store:
    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.datasets = DatasetRepo(self.db)
        self.models = ModelRepo(self.db)
        self.billing = BillingRepo(self.db)
        self.feedback = FeedbackRepo(self.db)
        self.jobs = JobRepo(self.db)
        self.limits = LimitRepo(self.db)
        self.invoices = InvoiceRepo(self.db)
        self.alerts = AlertRepo(self.db)
        self.monitoring = MonitorRepo(self.db)
        self.experiments = ExperimentRepo(self.db)
        self.policies = PolicyRepo(self.db)
        self.insights = InsightsRepo(self.db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    store = Store(url)
    if migrate:
        store.db.migrate()
    return store


__all__ = ["Store", "new_id", "open_store", "utcnow"]
