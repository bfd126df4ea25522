"""The one exception tree of ModelMint.

::

    ModelMintError                 500 / exit 1   something went wrong on our side
    ├── InvalidInput               400 / exit 2   the caller sent something we cannot use
    │   └── PayloadTooLarge        413 / exit 2   too many inputs, too long a body
    ├── Unauthorized               401 / exit 3   missing, unknown, revoked or expired API key
    ├── PaymentRequired            402 / exit 3   the tenant's plan does not allow the call
    ├── Forbidden                  403 / exit 3   authenticated, but not allowed
    ├── NotFound                   404 / exit 4   unknown dataset, scenario, model, tenant, prediction
    ├── Conflict                   409 / exit 5   already exists, or a concurrent change won
    ├── RateLimited                429 / exit 6   over the rate limit or the quota (carries Retry-After)
    ├── ServiceUnavailable         503 / exit 1   not ready yet (model loading, database down)
    │   └── Overloaded             503 / exit 1   the serving queue is full (carries Retry-After)
    ├── TimedOut                   504 / exit 1   a request ran past the per-request timeout
    ├── ConfigError                500 / exit 7   the settings or the environment are wrong
    ├── GateRejected               409 / exit 8   a candidate model did not pass the promotion gate
    └── TrainingDiverged           422 / exit 9   the loss became NaN or infinite; nothing registered

Every message says what was wrong *and* how to fix it, e.g.
``column 'label' not found; columns are text, sentiment - pass --label sentiment``.
"""

from __future__ import annotations

from typing import Any


class ModelMintError(Exception):
    """Root of every error ModelMint raises on purpose."""

    http_status: int = 500
    exit_code: int = 1
    title: str = "internal error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(ModelMintError):
    http_status = 400
    exit_code = 2
    title = "invalid input"


class PayloadTooLarge(InvalidInput):
    http_status = 413
    title = "payload too large"


class Unauthorized(ModelMintError):
    http_status = 401
    exit_code = 3
    title = "unauthorized"


class PaymentRequired(ModelMintError):
    http_status = 402
    exit_code = 3
    title = "payment required"


class Forbidden(ModelMintError):
    http_status = 403
    exit_code = 3
    title = "forbidden"


class NotFound(ModelMintError):
    http_status = 404
    exit_code = 4
    title = "not found"


class Conflict(ModelMintError):
    http_status = 409
    exit_code = 5
    title = "conflict"


class RateLimited(ModelMintError):
    http_status = 429
    exit_code = 6
    title = "rate limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        limit: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))
        self.limit = limit


class ServiceUnavailable(ModelMintError):
    http_status = 503
    exit_code = 1
    title = "service unavailable"


class Overloaded(ServiceUnavailable):
    """The serving queue is full: retry after a moment (503 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class TimedOut(ModelMintError):
    """A request ran past the per-request timeout (504)."""

    http_status = 504
    exit_code = 1
    title = "timed out"


class ConfigError(ModelMintError):
    http_status = 500
    exit_code = 7
    title = "configuration error"


class GateRejected(ModelMintError):
    http_status = 409
    exit_code = 8
    title = "promotion gate rejected the candidate"


class TrainingDiverged(ModelMintError):
    """The loss became NaN or infinite; nothing is registered."""

    http_status = 422
    exit_code = 9
    title = "training diverged"


__all__ = [
    "ConfigError",
    "Conflict",
    "Forbidden",
    "GateRejected",
    "InvalidInput",
    "ModelMintError",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "ServiceUnavailable",
    "TimedOut",
    "TrainingDiverged",
    "Unauthorized",
]
