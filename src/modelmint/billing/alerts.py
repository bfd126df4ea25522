"""Alerts at 80% and 100% of a tenant's quota or budget: a row each (written in the metering
transaction that crosses the level, so each fires exactly once), then a signed webhook POST with
retries, sent by `modelmint worker`.

Signature (like Stripe's): header ``ModelMint-Signature: t=<unix seconds>,v1=<hex>`` where hex
is HMAC-SHA256 over ``f"{t}.{body}"`` with the tenant's webhook secret. `verify_signature` is
what a receiver runs. The target is checked again at each delivery (`billing.webhooks`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelmint.billing import webhooks
from modelmint.errors import ModelMintError
from modelmint.store import Store

if TYPE_CHECKING:
    from modelmint.settings import Settings

logger = logging.getLogger(__name__)

THRESHOLDS = (80, 100)
MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "ModelMint-Signature"
TOLERANCE_SECONDS = 300


def levels(caller: Any) -> list[tuple[str, int, int, int]]:
    """(kind, threshold %, level in units, cap in units) for the caller's quota and budget."""
    out = []
    caps = []
    if caller.monthly_quota is not None:
        caps.append(("quota", caller.monthly_quota))
    if caller.budget_units is not None:
        caps.append(("budget", caller.budget_units))
    for kind, cap in caps:
        for pct in THRESHOLDS:
            out.append((kind, pct, max(1, math.ceil(cap * pct / 100)), cap))
    return out


def sign(secret: str, body: bytes, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """True if `header` signs `body` with `secret` and is at most `tolerance` seconds old."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _payload(alert: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": alert["id"],
            "type": f"{alert['kind']}.{alert['threshold']}",
            "tenant": alert["tenant"],
            "period": alert["period"],
            "threshold_percent": alert["threshold"],
            "used_units": alert["used_units"],
            "cap_units": alert["cap_units"],
            "created_at": alert["created_at"].isoformat(),
        },
        separators=(",", ":"),
    ).encode()


Post = Callable[[str, bytes, dict[str, str]], int]


def _send(
    alert: dict[str, Any],
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    post: Post | None,
) -> int:
    """Resolve and check the target now (DNS can change), then POST to the address checked;
    the HTTP status."""
    url = alert["webhook_url"]
    addresses = webhooks.resolve_target(url, allow_private=allow_private)
    if post is not None:
        return post(url, body, headers)
    return webhooks.post_pinned(url, addresses[0], body, headers)


def attempt(send: Callable[[], int], attempts: int, now: datetime) -> dict[str, Any]:
    """One delivery try of an alert (billing's and monitoring's alike): `send` POSTs it and
    returns the HTTP status. Returns what to store: ``state`` (delivered, pending for a retry,
    or failed after MAX_ATTEMPTS), ``attempts``, ``next_attempt_at`` (exponential backoff: 30 s,
    1 min, 2 min, ... at most 1 h) and ``last_error``. A refused target, a secret that cannot be
    opened, a timeout or a non-2xx answer are all failures of this try."""
    attempts += 1
    try:
        status = send()
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except ModelMintError as exc:  # a refused target, a secret this key cannot open
        error = exc.message[:500]
    except Exception as exc:  # unreachable, timeout: all retried
        error = f"{type(exc).__name__}: {exc}"[:500]
    if error is None:
        return {
            "state": "delivered",
            "attempts": attempts,
            "next_attempt_at": None,
            "last_error": None,
        }
    failed = attempts >= MAX_ATTEMPTS
    backoff = timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
    return {
        "state": "failed" if failed else "pending",
        "attempts": attempts,
        "next_attempt_at": None if failed else now + backoff,
        "last_error": error,
    }


def deliver_due(
    store: Store,
    *,
    settings: Settings,
    now: datetime | None = None,
    post: Post | None = None,
) -> int:
    """POST every due pending alert to its tenant's webhook; returns how many were delivered.
    A failure retries with exponential backoff (30 s, 1 min, 2 min, ... at most 1 h), and after
    MAX_ATTEMPTS the alert is `failed` (it stays visible in `modelmint alerts list`). A target
    that is (or now resolves to) a non-public address is not contacted and counts as a failure,
    unless ``settings.webhook_allow_private``. `post` replaces the HTTP call (tests); the
    target is checked either way."""
    now = now or datetime.now(UTC)
    webhooks.seal_clear_secrets_once(store, settings)
    box = None
    delivered = 0
    for alert in store.alerts.due(now):
        if not alert["webhook_url"]:
            store.alerts.mark(alert["id"], status="no_webhook", next_attempt_at=None)
            continue
        body = _payload(alert)

        def send(alert: dict[str, Any] = alert, body: bytes = body) -> int:
            nonlocal box
            box = box or webhooks.SecretBox.from_settings(settings)
            secret = box.open(alert["tenant"], alert["webhook_secret"] or "")
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body),
                "ModelMint-Event-Id": alert["id"],
            }
            return _send(
                alert, body, headers, allow_private=settings.webhook_allow_private, post=post
            )

        result = attempt(send, alert["attempts"], now)
        store.alerts.mark(alert["id"], status=result.pop("state"), **result)
        if result["last_error"] is None:
            delivered += 1
        else:
            logger.warning(
                "alert %s to %s: %s (attempt %d)",
                alert["id"],
                alert["tenant"],
                result["last_error"],
                result["attempts"],
            )
    return delivered
