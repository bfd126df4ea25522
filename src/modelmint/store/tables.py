"""All tables, in SQLAlchemy Core. Alembic migrations in ``migrations/`` must match this file
(a test compares them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("task", String(40), nullable=False),
    Column("path", Text, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("split_counts", JSON, nullable=False),
    Column("audit", JSON, nullable=False),
    Column("source", JSON, nullable=False),
    Column("parent_id", Integer, ForeignKey("datasets.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_datasets_name_version"),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("base_model", String(200), nullable=False),
    Column("task", String(40), nullable=False),
    Column("path", Text, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("train_config", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_models_name_version"),
)

# alias -> version, e.g. review-sentiment@production -> 2. One row per (name, alias).
model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("alias", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Append-only audit of promotions and rollbacks.
model_events = Table(
    "model_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, index=True),
    Column("alias", String(40), nullable=False),
    Column("action", String(20), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    # the default price per 1,000 units (the overage price on a subscription)
    Column("price_per_1k_micros", BigInteger, nullable=False),
    Column("monthly_quota", BigInteger, nullable=True),
    Column("rate_limit_rps", Float, nullable=True),
    Column("burst", Integer, nullable=True),
    Column("tenant_rate_limit_rps", Float, nullable=True),  # across all of a tenant's keys
    Column("budget_micros", BigInteger, nullable=True),  # money a tenant may spend a month
    Column("max_concurrent", Integer, nullable=True),  # a tenant's calls in flight
    Column("created_at", DateTime(timezone=True), nullable=False),
    # a plan is a series of immutable versions; tenants stay on theirs until moved
    Column("version", Integer, nullable=False, server_default="1"),
    Column("prices", JSON, nullable=True),  # {"scenario:unit_type": micros per 1k}, * = any
    Column("tiers", JSON, nullable=True),  # [{"up_to": units | null, "price_per_1k_micros"}]
    Column("tier_mode", String(10), nullable=False, server_default="graduated"),
    Column("fee_micros", BigInteger, nullable=False, server_default="0"),  # per month
    Column("included_units", BigInteger, nullable=False, server_default="0"),  # per month
    Column("trial_days", Integer, nullable=False, server_default="0"),
    UniqueConstraint("name", "version", name="uq_plans_name_version"),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("currency", String(3), nullable=True),  # the plan's; a plan change must match it
    Column("contact_name", String(200), nullable=True),
    Column("contact_email", String(320), nullable=True),
    Column("discount_bp", Integer, nullable=False, server_default="0"),  # on every invoice
    Column("webhook_url", String(2000), nullable=True),  # alerts are POSTed here
    Column("webhook_secret", String(64), nullable=True),  # HMAC-SHA256 signing secret
    Column("trial_ends_at", DateTime(timezone=True), nullable=True),  # usage before is free
)

# which plan version a tenant was on from when: invoices prorate across the changes
tenant_plans = Table(
    "tenant_plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("prefix", String(24), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # live keys bill; test keys (mm_test_) are metered apart and never bill
    Column("mode", String(4), nullable=False, server_default="live"),
    # None: every scenario; else the scenarios this key may use
    Column("scenarios", JSON, nullable=True),
    # write: predict, feedback, outcomes and reads; read: usage and invoices only
    Column("access", String(5), nullable=False, server_default="write"),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("request_id", String(26), nullable=False, index=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_id", String(26), nullable=False),
    Column("scenario", String(100), nullable=False, index=True),
    Column("model_version", Integer, nullable=False),
    Column("input_text", Text, nullable=False),
    Column("label", String(200), nullable=False),
    Column("score", Float, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # what monitoring compares with the version's reference profile (monitor.Reference.encode):
    # a text head's embedding projected on 32 reference components plus its residual (66
    # bytes), a tabular row's features as float32; NULL when the payload was not sampled
    Column("drift", LargeBinary, nullable=True),
    # which experiment arm answered (production, challenger, shadow); NULL outside experiments
    Column("arm", String(20), nullable=True),
    # a shadow prediction's production twin (the same input, answered and billed)
    Column("paired_id", String(26), nullable=True),
    # this input's share of the compute time of the batches it ran in (ms): what it cost to
    # serve, a shadow challenger's included; NULL where not measured (rows before 0009)
    Column("compute_ms", Float, nullable=True),
    Index("ix_predictions_scenario_created", "scenario", "created_at"),
)

# One row per billed request; written in the same transaction as its predictions.
usage = Table(
    "usage",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("request_id", String(26), nullable=False, unique=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(26), nullable=False),
    Column("scenario", String(100), nullable=False),
    Column("unit_type", String(20), nullable=False),
    Column("units", Integer, nullable=False),
    Column("period", String(7), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("live", Boolean, nullable=False, server_default=true()),
    # the version that answered: revenue is allocated to versions by the units each served
    Column("model_version", Integer, nullable=True),
    # covering for an invoice segment (tenant, period, a time range) and the funnel's n-th call
    Index(
        "ix_usage_tenant_period",
        "tenant_id",
        "period",
        "created_at",
        "scenario",
        "unit_type",
        "live",
        "units",
    ),
)

# The ledger rolled up by hour, written in the metering transaction with the calls it counts:
# insights read these few rows instead of every call. One row per hour, tenant, scenario, unit
# type, answering version (0: unknown), live/test and shadow (a shadow challenger's predictions:
# no calls or units, only their compute time).
usage_hourly = Table(
    "usage_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), primary_key=True),
    Column("scenario", String(100), primary_key=True),
    Column("unit_type", String(20), primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("live", Boolean, primary_key=True),
    Column("shadow", Boolean, primary_key=True),
    Column("period", String(7), nullable=False),
    Column("calls", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("predictions", BigInteger, nullable=False),
    Column("measured", BigInteger, nullable=False),  # predictions with a compute time
    Column("compute_ms", Float, nullable=False),
    Index("ix_usage_hourly_period", "period"),
    Index("ix_usage_hourly_tenant", "tenant_id", "period", "hour"),  # a tenant's month, in order
)

# Units used per tenant and period; the conditional increment enforces the quota atomically.
# 80% / 100% of a quota or budget: one row per tenant, period, kind and threshold (the
# dashboard shows them); webhook delivery state on the same row
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("period", String(7), nullable=False),
    Column("kind", String(10), nullable=False),  # quota | budget
    Column("threshold", Integer, nullable=False),  # percent: 80 | 100
    Column("used_units", BigInteger, nullable=False),
    Column("cap_units", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | failed | no_webhook
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("tenant_id", "period", "kind", "threshold"),
)
# issued invoices and credit notes: written once, never updated (corrections are credit notes)
invoices = Table(
    "invoices",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),  # invoice | credit_note
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("period", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("refers_to", String(40), nullable=True),  # a credit note's invoice number
    Column("lines", JSON, nullable=False),
    Column("subtotal_micros", BigInteger, nullable=False),
    Column("discount_micros", BigInteger, nullable=False),
    Column("tax_rate_bp", Integer, nullable=False),  # basis points: 2000 = 20%
    Column("tax_micros", BigInteger, nullable=False),
    Column("total_micros", BigInteger, nullable=False),
    Column("note", Text, nullable=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    # one invoice per tenant and period; credit notes carry a unique sequence instead
    Column("dedupe", String(60), nullable=False, unique=True),
)
# rate limits and calls in flight when the database is the limiter's backend
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("bucket", String(120), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),  # epoch seconds of the last update
)
inflight = Table(
    "inflight",
    metadata,
    Column("lease", String(64), primary_key=True),
    Column("bucket", String(120), nullable=False, index=True),
    Column("expires", Float, nullable=False),
)
# Idempotency-Key on predict: the first response, written in the metering transaction
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
quota_counters = Table(
    "quota_counters",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id"), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("units", BigInteger, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("prediction_id", String(26), ForeignKey("predictions.id"), nullable=False, index=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("prediction_id", String(26), ForeignKey("predictions.id"), nullable=False, index=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("event", String(100), nullable=False),
    # A business KPI value (e.g. order value), not a ledger amount: billing never reads it.
    Column("value", Float, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# monitoring alerts: one row per crossing of a signal's threshold, cleared on recovery; the
# owner's webhook delivery state on the same row
monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("scenario", String(100), nullable=False, index=True),
    Column("model_version", Integer, nullable=False),
    Column("signal", String(40), nullable=False),
    Column("state", String(10), nullable=False),  # raised | cleared
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
    Column("details", JSON, nullable=False),
    # pending | delivered | failed | no_webhook; a clearing is delivered as a second event
    Column("delivery", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
)

# experiments between production and a challenger: at most one running per scenario
experiments = Table(
    "experiments",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("scenario", String(100), nullable=False, index=True),
    Column("production_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=False),
    Column("mode", String(10), nullable=False),  # shadow | split | bandit
    # challenger's share: of traffic (split; bandit: its current weight), of calls scored (shadow)
    Column("share", Float, nullable=False),
    Column("metric", String(100), nullable=True),  # the outcome event judged on
    Column("on_value", Boolean, nullable=False, server_default=false()),
    Column("status", String(10), nullable=False),  # running | stopped
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("share_at", DateTime(timezone=True), nullable=True),
    Column("decision", JSON, nullable=True),
    Index(
        "uq_experiments_running",
        "scenario",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

# a scenario's retraining policy (experiments.policy.PolicySpec) and when it last ran
policies = Table(
    "policies",
    metadata,
    Column("scenario", String(100), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_run_at", DateTime(timezone=True), nullable=True),
    Column("last_trigger", Text, nullable=True),
    Column("last_job_id", String(26), nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("progress", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("result", JSON, nullable=True),
    Column("worker", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # last sign of life from the worker running it; a stale one is requeued (a lease)
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
)

# dated exchange rates given by the owner (`modelmint fx set USD CNY 7.12 --date 2026-11-01`):
# 1 `base` = `rate` `quote` from `day` on, until a later day's rate; insights convert with them
fx_rates = Table(
    "fx_rates",
    metadata,
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD
    Column("rate", String(40), nullable=False),  # a decimal, kept exact
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every administrative action, chained by HMAC (modelmint.audit): append-only, the database
# refuses UPDATE, DELETE (and TRUNCATE on PostgreSQL) through triggers (migration 0011).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, 3, ... no gaps
    Column("at", String(32), nullable=False, index=True),  # modelmint.audit.timestamp
    Column("actor", String(200), nullable=False, index=True),
    Column("action", String(60), nullable=False),
    Column("target", String(300), nullable=False, index=True),
    Column("before", Text, nullable=True),  # canonical JSON, secrets redacted
    Column("after", Text, nullable=True),
    Column("request_id", String(100), nullable=True),
    Column("key_id", String(16), nullable=False),
    Column("prev", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

# People who sign in (staff, and tenant developers with tenant_id) and their personal access
# tokens for the admin API (modelmint.people; migration 0012).
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    Column("role", String(20), nullable=False),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=True),
    Column("password_hash", String(200), nullable=True),  # Argon2id (argon2-cffi)
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("sessions_valid_after", DateTime(timezone=True), nullable=True),  # logout everywhere
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

user_tokens = Table(
    "user_tokens",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=True),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the token
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Signed-in browser sessions (modelmint.people.sessions): the cookie holds a random token, the
# table its SHA-256, so a copy of the database cannot be used to sign in.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("address", String(64), nullable=True),
    Column("user_agent", String(200), nullable=True),
)
