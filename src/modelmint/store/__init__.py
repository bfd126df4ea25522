"""Persistence: the only package that imports SQLAlchemy and Alembic.

``open_store(url)`` returns a migrated :class:`Store`, whose repositories take and return plain
dicts, so the stages above never see a session or a table."""

from __future__ import annotations

from collections.abc import Callable

from modelmint import audit
from modelmint.settings import Settings
from modelmint.store.db import Database, new_id, utcnow
from modelmint.store.repos import (
    AlertRepo,
    AuditRepo,
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
    PeopleRepo,
    PolicyRepo,
)


class Store:
    def __init__(self, url: str, audit_key: bytes | Callable[[], bytes] | None = None) -> None:
        self.db = Database(url)
        self.audit = AuditRepo(self.db, audit_key)
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
        self.people = PeopleRepo(self.db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.dispose()


def open_store(
    url: str, *, migrate: bool = True, audit_key: bytes | Callable[[], bytes] | None = None
) -> Store:
    """A store on `url`, migrated to the newest schema. With `audit_key` (derived from the
    server key: modelmint.audit.derive_key; or a function returning it, called on first need)
    it records the audit log, and refuses a key other than the one that signed the log's
    newest entry."""
    store = Store(url, audit_key)
    if migrate:
        store.db.migrate()
        store.audit.check_key()
    return store


def store_for(settings: Settings, *, migrate: bool = True) -> Store:
    """The store of these settings, its audit log keyed from the server key."""
    return open_store(
        settings.sqlalchemy_url,
        migrate=migrate,
        audit_key=lambda: audit.derive_key(settings.server_secret()),
    )


__all__ = ["Store", "new_id", "open_store", "store_for", "utcnow"]
