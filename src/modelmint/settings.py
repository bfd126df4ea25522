"""One Settings object, built by an entry point and passed down.

Precedence: environment (``MODELMINT_*``) > ``.env`` in the working directory > default.
Nothing reads the environment at import time: call :func:`load_settings`.
Every field is documented in ``docs/settings.md`` (a test checks it).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret.key"
MIN_SECRET_KEY_CHARS = 32

MONEY_PATTERN = r"^\d{1,12}(\.\d{1,6})?$"  # a decimal amount: 0 to 999,999,999,999.999999


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODELMINT_", env_file=".env", extra="ignore", validate_default=True
    )

    home: Path = Field(
        default=Path("~/.modelmint"),
        description="Directory for the SQLite database, dataset snapshots, models and caches.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: SQLite in HOME. PostgreSQL: postgresql+psycopg://...",
    )
    host: str = Field(default="127.0.0.1", description="Address `modelmint serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `modelmint serve` binds to.")
    max_inputs_per_request: int = Field(
        default=256, ge=1, description="Most inputs in one predict call; more is answered 413."
    )
    max_chars_per_input: int = Field(
        default=20_000,
        ge=1,
        description="Longest input text in characters; longer is answered 413.",
    )
    max_body_bytes: int = Field(
        default=2_000_000, ge=1024, description="Largest request body in bytes; larger is 413."
    )
    max_file_bytes: int = Field(
        default=20 * 1024**3, ge=1, description="Largest file `data add` accepts, in bytes."
    )
    model_cache_size: int = Field(
        default=1000,
        ge=1,
        description="Most model versions one server process keeps loaded (LRU, with model_cache_mb).",
    )
    model_cache_mb: int = Field(
        default=4096,
        ge=1,
        description="Memory bound for loaded versions that cannot share an encoder (LRU). Heads "
        "on a shared encoder count only their own weights.",
    )
    serve_runtime: str = Field(
        default="onnx",
        pattern="^(onnx|torch)$",
        description="Runtime for transformers encoders in the server: onnx (ONNX Runtime, graph "
        "exported once and cached in HOME/cache/onnx) or torch. onnx falls back to torch if "
        "the export fails.",
    )
    serve_threads: int | None = Field(
        default=None,
        ge=1,
        description="Intra-op threads per server process. Default: CPU cores / server processes.",
    )
    max_batch_size: int = Field(
        default=64, ge=1, description="Most inputs in one micro-batch (one forward pass)."
    )
    max_batch_wait_ms: float = Field(
        default=0.0,
        ge=0,
        description="Longest the first request of a micro-batch waits for others when the "
        "model is idle, in ms (under load batches form while the previous one runs).",
    )
    max_queue: int = Field(
        default=2048,
        ge=1,
        description="Most inputs waiting per batcher; beyond it predict answers 503 with "
        "Retry-After.",
    )
    batch_concurrency: int = Field(
        default=1,
        ge=1,
        description="Micro-batches one server process runs at once (raise on big machines, with "
        "serve_threads = cores / this).",
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A predict call running longer is answered 504."
    )
    explain_max_queue: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Most explain inputs queued or running per server process (each costs one "
        "forward pass of up to 49 variants); beyond it explain answers 503 with Retry-After, "
        "and one request with more inputs is answered 413.",
    )
    explain_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Explain inputs computed at once per server process (each holds one "
        "occlusion batch in memory).",
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        le=1_048_576,
        description="Largest request line plus headers in bytes; larger is answered 431 and the "
        "connection closed.",
    )
    max_headers: int = Field(
        default=100, ge=8, le=1000, description="Most headers in one request; more is 431."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="A connection that does not finish sending a request's headers within this "
        "time of opening (or of the request's first byte) is closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="A request body that stalls for this long between two reads is abandoned "
        "and the connection closed.",
    )
    keepalive_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="An idle keep-alive connection is closed after this long.",
    )
    auth_failures_per_minute: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="Failed authentications allowed per client address and per key prefix in "
        "any 60 s; beyond it the server answers 429 without checking the credential.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="/metrics answers loopback clients; others must send 'Authorization: "
        "Bearer <this token>' (unset: only loopback).",
    )
    alias_refresh_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each server process looks for promotions and rollbacks made "
        "elsewhere (it warms the new version, then switches).",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a server process keeps an API key's caller (plan, limits) before "
        "reading it again; revocation and suspension still act at once (0: read every request).",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Python's generation-0 GC threshold in server processes, which also freeze "
        "what exists after warm-up (0: Python's defaults).",
    )
    worker_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often `modelmint worker` looks for queued jobs."
    )
    job_lease_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A running job silent for this long (no progress) is given to another worker.",
    )
    log_sample_rate: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of predictions whose input (redacted) and drift payload the "
        "prediction log keeps; every prediction keeps its id, version, output, confidence, "
        "latency and arm, and every call is metered whatever this is.",
    )
    log_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days the prediction log keeps a prediction; the worker deletes older ones "
        "(with their outcomes) unless they carry feedback. Usage and invoices are never purged.",
    )
    monitor_interval_seconds: float = Field(
        default=60.0,
        ge=5.0,
        le=86_400.0,
        description="How often the worker evaluates every production scenario's monitoring "
        "signals and raises or clears alerts.",
    )
    monitor_window: str = Field(
        default="1d",
        pattern=r"^(\d{1,6}[mhd]|\d{2,8})$",
        description="The window the worker's evaluations look at: a duration (30m, 1h, 1d) or "
        "a number of predictions (10000).",
    )
    monitor_min_predictions: int = Field(
        default=100,
        ge=10,
        le=1_000_000,
        description="Predictions of the production version a window needs before drift is "
        "judged (fewer: signals are 'insufficient' and no alert changes).",
    )
    monitor_webhook_url: str | None = Field(
        default=None,
        description="Where monitoring alerts are POSTed (signed as tenants' webhooks are, "
        "with monitor_webhook_secret). Unset: alerts are only listed.",
    )
    monitor_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret for monitor_webhook_url (at least 32 characters).",
    )
    session_idle_minutes: int = Field(
        default=30,
        ge=5,
        le=1440,
        description="A signed-in web session ends after this many minutes without a request.",
    )
    session_hours: int = Field(
        default=12,
        ge=1,
        le=720,
        description="A signed-in web session ends this many hours after sign-in, however busy.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bootstrap bearer token for the /v1/admin API (role admin). Unset: only "
        "users' personal access tokens open it.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server key (at least 32 characters) that seals tenants' webhook signing "
        "secrets in the database. Unset: a random key kept in HOME/secret.key (mode 0600). Set "
        "the same value on every host that shares one database.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private, link-local, shared or unspecified "
        "addresses (checked when set and at every delivery).",
    )
    currency: str = Field(
        default="USD", min_length=3, max_length=3, description="Currency of new plans (ISO 4217)."
    )
    tax_rate_percent: str = Field(
        default="0",
        pattern=r"^\d{1,3}(\.\d{1,2})?$",
        description="Tax rate on invoices, in percent (e.g. 20 or 7.5).",
    )
    cost_currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="Currency of the cost settings below (ISO 4217). Unset: MODELMINT_CURRENCY.",
    )
    cost_cpu_core_hour: str = Field(
        default="0",
        pattern=MONEY_PATTERN,
        description="Price of one CPU core for an hour, for the measured cost to serve (e.g. 0.04).",
    )
    cost_gpu_hour: str = Field(
        default="0",
        pattern=MONEY_PATTERN,
        description="Price of one GPU for an hour (e.g. 2.50), charged for cost_gpus_per_batch.",
    )
    cost_cores_per_batch: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="CPU cores a running batch holds. Unset: MODELMINT_SERVE_THREADS, else the "
        "machine's cores (the default of one server process).",
    )
    cost_gpus_per_batch: float = Field(
        default=0,
        ge=0,
        le=64,
        description="GPUs a running batch holds (0 on CPU-only servers).",
    )
    cost_storage_gb_month: str = Field(
        default="0",
        pattern=MONEY_PATTERN,
        description="Price of one GB of models and datasets for a month (e.g. 0.02).",
    )
    cost_fixed_monthly: str = Field(
        default="0",
        pattern=MONEY_PATTERN,
        description="Fixed cost a month (hosts, database, people), shared by scenarios by calls.",
    )
    active_calls: int = Field(
        default=100,
        ge=1,
        le=1_000_000_000,
        description="Live calls in a calendar month that make a tenant active in the funnel.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for rate and concurrency limits shared by every server process, e.g. "
        "redis://127.0.0.1:6379/0.",
    )
    rate_limit_backend: str = Field(
        default="auto",
        pattern="^(auto|redis|database|memory)$",
        description="Where rate and concurrency limits are counted: auto (redis when "
        "redis_url is set, the database under serve --workers N > 1, else memory), redis, "
        "database or memory (per process).",
    )
    rate_limit_on_redis_error: str = Field(
        default="local",
        pattern="^(local|closed)$",
        description="When Redis fails: local (per-process limits until it is back) or closed "
        "(refuse calls with 503).",
    )
    log_level: str = Field(default="INFO", description="Log level of the CLI and server.")

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("monitor_webhook_secret", mode="after")
    @classmethod
    def _long_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError(
                "MODELMINT_MONITOR_WEBHOOK_SECRET must be at least 32 characters; generate one "
                'with python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return v

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'modelmint.db'}"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def server_secret(self) -> str:
        """The server key: MODELMINT_SECRET_KEY, or the key kept in HOME/secret.key (created,
        random and mode 0600, on first use). Webhook secrets are sealed and the audit log is
        chained under keys derived from it; every host sharing one database needs the same."""
        from modelmint.errors import ConfigError

        if self.secret_key is not None:
            given = self.secret_key.get_secret_value()
            if len(given) < MIN_SECRET_KEY_CHARS:
                raise ConfigError(
                    f"MODELMINT_SECRET_KEY has {len(given)} characters, fewer than "
                    f'{MIN_SECRET_KEY_CHARS}; generate one with `python -c "import secrets; '
                    'print(secrets.token_urlsafe(32))"`'
                )
            return given
        return _key_file(self.home / SECRET_KEY_FILE)


def _key_file(path: Path) -> str:
    """The key kept in `path`, created (random, mode 0600) if absent."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    logger.info("created the server key %s (keep it with backups of the database)", path)
    return path.read_text(encoding="utf-8").strip()


def load_settings(**overrides: Any) -> Settings:
    """Build settings from env/.env, with explicit overrides (None values are ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
