"""Repositories: the only functions that read and write tables, one module per repository.
They take and return plain dicts and values, so no stage ever touches SQLAlchemy.

- `datasets` DatasetRepo, `models` ModelRepo (registry), `billing` BillingRepo (plans,
  tenants, keys, metering, usage), `alerts` AlertRepo, `invoices` InvoiceRepo, `limits`
  LimitRepo (database rate limits), `feedback` FeedbackRepo, `jobs` JobRepo,
  `experiments` ExperimentRepo (experiments and their per-arm totals), `monitoring`
  MonitorRepo (prediction-log windows, retention, monitoring alerts), `insights` InsightsRepo
  (the ledger grouped for business reports, exchange rates), `audit` AuditRepo (the
  chained, append-only audit log), `people` PeopleRepo (users and their access tokens);
- `metering`: the metering transaction's mechanics, and the `MeterRules` it is given;
- `common`: what they share (rows as dicts, ON CONFLICT inserts, the Idempotency-Key digest)."""

from __future__ import annotations

from modelmint.store.repos.alerts import AlertRepo
from modelmint.store.repos.audit import AuditRepo
from modelmint.store.repos.billing import BillingRepo
from modelmint.store.repos.common import idempotency_digest
from modelmint.store.repos.datasets import DatasetRepo
from modelmint.store.repos.experiments import ExperimentRepo, PolicyRepo
from modelmint.store.repos.feedback import FeedbackRepo
from modelmint.store.repos.insights import InsightsRepo
from modelmint.store.repos.invoices import InvoiceRepo
from modelmint.store.repos.jobs import JobRepo
from modelmint.store.repos.limits import LimitRepo
from modelmint.store.repos.metering import AlertLevel, MeteredKey, MeterRules, meter_item
from modelmint.store.repos.models import ModelRepo
from modelmint.store.repos.monitoring import MonitorRepo
from modelmint.store.repos.people import PeopleRepo

__all__ = [
    "AlertLevel",
    "AlertRepo",
    "AuditRepo",
    "BillingRepo",
    "DatasetRepo",
    "ExperimentRepo",
    "FeedbackRepo",
    "InsightsRepo",
    "InvoiceRepo",
    "JobRepo",
    "LimitRepo",
    "MeterRules",
    "MeteredKey",
    "ModelRepo",
    "MonitorRepo",
    "PeopleRepo",
    "PolicyRepo",
    "idempotency_digest",
    "meter_item",
]
