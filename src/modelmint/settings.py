"""One Settings object, built by an entry point and passed down.

Precedence: environment (``MODELMINT_*``) > ``.env`` in the working directory > default.
Nothing reads the environment at import time: call :func:`load_settings`.
Every field is documented in ``docs/settings.md`` (a test checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        default=8,
        ge=1,
        description="How many model versions one server process keeps loaded (LRU).",
    )
    worker_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often `modelmint worker` looks for queued jobs."
    )
    job_lease_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A running job silent for this long (no progress) is given to another worker.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the /v1/admin API. Unset means the admin API is off.",
    )
    currency: str = Field(
        default="USD", min_length=3, max_length=3, description="Currency of new plans (ISO 4217)."
    )
    log_level: str = Field(default="INFO", description="Log level of the CLI and server.")

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

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


def load_settings(**overrides: Any) -> Settings:
    """Build settings from env/.env, with explicit overrides (None values are ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
