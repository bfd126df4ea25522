"""Tenants, plans, hashed API keys, quotas, rate limits and what a tenant owes.

Money is integer micro-units at every step. Keys are shown once and stored as SHA-256 hashes
(keys are 190-bit random strings, so a fast hash is the right tool; bcrypt is for passwords)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from modelmint.errors import Forbidden, InvalidInput, RateLimited, Unauthorized
from modelmint.store import Store
from modelmint.types import Money

KEY_PREFIX = "mm_live_"
TEST_KEY_PREFIX = "mm_test_"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name or ""):
        raise InvalidInput(
            f"'{name}' is not a valid {kind} name; use lowercase letters, digits, '-' and '_'"
        )


def current_period(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.year:04d}-{now.month:02d}"


def percent_bp(percent: str, what: str) -> int:
    """'20' or '7.5' (percent) -> basis points (2000, 750)."""
    try:
        bp = Decimal(str(percent)) * 100
    except InvalidOperation as exc:
        raise InvalidInput(f"{what} '{percent}' is not a number of percent, e.g. 20") from exc
    if bp < 0 or bp > 10000 or bp != bp.to_integral_value():
        raise InvalidInput(f"{what} {percent}% must be 0-100 with at most 2 decimals")
    return int(bp)


def validate_period(period: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period or ""):
        raise InvalidInput(f"period '{period}' is not YYYY-MM, e.g. {current_period()}")
    return period


def seconds_to_period_end(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    end = datetime(now.year, now.month, days, tzinfo=UTC).timestamp() + 86400
    return max(1, int(end - now.timestamp()))


def amount_for(units: int, price_per_1k_micros: int) -> int:
    """Integer micros owed for `units` at a price per 1,000 units, rounded half up."""
    return (units * price_per_1k_micros + 500) // 1000


# plans and tenants ---------------------------------------------------------------------------
def create_plan(
    store: Store,
    name: str,
    *,
    price_per_1k: str,
    quota: int | None = None,
    rate_limit: float | None = None,
    burst: int | None = None,
    currency: str = "USD",
    tenant_rate_limit: float | None = None,
    concurrency: int | None = None,
    budget: str | None = None,
) -> dict[str, Any]:
    """``rate_limit``/``burst``: requests/s per API key; ``tenant_rate_limit``: requests/s
    across all of a tenant's keys; ``concurrency``: a tenant's calls in flight; ``budget``: the
    most money a tenant may spend in a month (a cap the API enforces like the quota)."""
    _check_name("plan", name)
    price = Money.parse(price_per_1k, currency)
    cap = Money.parse(budget, currency) if budget is not None else None
    if cap is not None and cap.micros <= 0:
        raise InvalidInput("--budget must be an amount > 0, e.g. 50.00 (omit for no cap)")
    if quota is not None and quota < 0:
        raise InvalidInput("--quota must be a number of units per month >= 0 (omit for unlimited)")
    if rate_limit is not None and rate_limit <= 0:
        raise InvalidInput("--rate-limit must be requests per second > 0 (omit for no limit)")
    if burst is not None and burst < 1:
        raise InvalidInput("--burst must be at least 1")
    if tenant_rate_limit is not None and tenant_rate_limit <= 0:
        raise InvalidInput("--tenant-rate-limit must be requests per second > 0 (omit for none)")
    if concurrency is not None and concurrency < 1:
        raise InvalidInput("--concurrency must be at least 1 call in flight (omit for no limit)")
    return store.billing.create_plan(
        name=name,
        currency=price.currency,
        price_per_1k_micros=price.micros,
        monthly_quota=quota,
        rate_limit_rps=rate_limit,
        burst=burst,
        tenant_rate_limit_rps=tenant_rate_limit,
        max_concurrent=concurrency,
        budget_micros=cap.micros if cap is not None else None,
    )


TENANT_STATUSES = ("trial", "active", "suspended")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create_tenant(
    store: Store,
    name: str,
    *,
    plan: str,
    status: str = "active",
    currency: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    discount_percent: str | None = None,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """A customer organisation on a plan. Its currency is the plan's (a different one is
    refused); status trial or active (suspend later with `set_tenant_status`)."""
    _check_name("tenant", name)
    p = store.billing.plan(plan)
    if status not in ("trial", "active"):
        raise InvalidInput(f"a new tenant's status is trial or active, not '{status}'")
    if currency is not None and currency.upper() != p["currency"]:
        raise InvalidInput(
            f"tenant currency {currency.upper()} differs from plan {plan}'s {p['currency']}; "
            f"pick a plan priced in {currency.upper()} or drop --currency"
        )
    if contact_email is not None and not _EMAIL.fullmatch(contact_email):
        raise InvalidInput(f"'{contact_email}' is not an email address; e.g. billing@acme.com")
    discount_bp = percent_bp(discount_percent, "--discount") if discount_percent else 0
    if webhook_url is not None and not re.fullmatch(r"https?://\S{3,1990}", webhook_url):
        raise InvalidInput(
            f"'{webhook_url[:100]}' is not an http(s) URL; e.g. https://acme.example/hooks"
        )
    return store.billing.create_tenant(
        name,
        p["id"],
        status,
        currency=p["currency"],
        contact_name=contact_name,
        contact_email=contact_email,
        discount_bp=discount_bp,
        webhook_url=webhook_url,
        # signs alert webhooks; shown once at creation (`modelmint tenants create`)
        webhook_secret=("whsec_" + secrets.token_urlsafe(24)) if webhook_url else None,
    )


def set_tenant_status(store: Store, name: str, status: str) -> dict[str, Any]:
    """trial, active or suspended; a suspended tenant's keys get 403 on their next request."""
    if status not in TENANT_STATUSES:
        raise InvalidInput(f"status '{status}' is not one of {', '.join(TENANT_STATUSES)}")
    return store.billing.set_tenant_status(name, status)


# keys ------------------------------------------------------------------------------------------
def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_duration(text: str, what: str) -> timedelta:
    """'90d', '24h', '30m', '0s' -> timedelta."""
    m = _DURATION.fullmatch((text or "").strip())
    if not m:
        raise InvalidInput(f"{what} '{text}' is not a duration; use e.g. 90d, 24h, 30m or 0s")
    return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def create_key(
    store: Store,
    tenant: str,
    name: str | None = None,
    *,
    test: bool = False,
    scenarios: list[str] | None = None,
    read_only: bool = False,
    expires_in: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Returns (the full key - shown once, never stored - and the stored record).

    ``test``: an ``mm_test_`` key, metered apart and never billed. ``scenarios``: the only
    scenarios it may call (default all). ``read_only``: usage and invoices, no predictions or
    feedback. ``expires_in``: a duration such as ``90d``."""
    t = store.billing.tenant(tenant)
    for s in scenarios or []:
        _check_name("scenario", s)
    expires_at = (
        datetime.now(UTC) + parse_duration(expires_in, "--expires-in") if expires_in else None
    )
    return _new_key(
        store,
        t["id"],
        name,
        mode="test" if test else "live",
        scenarios=sorted(set(scenarios)) if scenarios else None,
        access="read" if read_only else "write",
        expires_at=expires_at,
    )


def _new_key(
    store: Store, tenant_id: int, name: str | None, **fields: Any
) -> tuple[str, dict[str, Any]]:
    prefix = TEST_KEY_PREFIX if fields.get("mode") == "test" else KEY_PREFIX
    key = prefix + secrets.token_urlsafe(24)
    rec = store.billing.create_key(tenant_id, key[: len(prefix) + 6], hash_key(key), name, **fields)
    return key, rec


def rotate_key(store: Store, key_id: str, overlap: str = "24h") -> tuple[str, dict[str, Any]]:
    """A new key with the same tenant, mode, scopes and expiry; the old one keeps working for
    the overlap, then expires (both in one transaction). Returns (new key, its record)."""
    old = store.billing.key(key_id)
    if old["revoked_at"] is not None:
        raise InvalidInput(f"key {key_id} is revoked; create a new key instead of rotating it")
    now = datetime.now(UTC)
    if old["expires_at"] is not None and old["expires_at"] <= now:
        raise InvalidInput(f"key {key_id} has expired; create a new key instead of rotating it")
    return _new_key(
        store,
        old["tenant_id"],
        old["name"],
        mode=old["mode"],
        scenarios=old["scenarios"],
        access=old["access"],
        expires_at=old["expires_at"],
        expire_old=(key_id, now + parse_duration(overlap, "--overlap")),
    )


@dataclass(frozen=True)
class Caller:
    key_id: str
    tenant_id: int
    tenant: str
    plan: str
    currency: str
    price_per_1k_micros: int
    monthly_quota: int | None
    rate_limit_rps: float | None
    burst: int | None
    live: bool = True
    scenarios: tuple[str, ...] | None = None
    read_only: bool = False
    tenant_rate_limit_rps: float | None = None
    max_concurrent: int | None = None
    budget_micros: int | None = None

    @property
    def unit_cap(self) -> int | None:
        """Units this tenant may use in a period: the quota, or what the budget buys at the
        plan's price, whichever is lower (None: no cap)."""
        caps = [] if self.monthly_quota is None else [self.monthly_quota]
        if self.budget_micros is not None and self.price_per_1k_micros > 0:
            caps.append(max_units_within(self.budget_micros, self.price_per_1k_micros))
        return min(caps) if caps else None

    def allow(self, scenario: str | None = None, *, write: bool = True) -> None:
        """Forbidden unless this key's scopes cover the call."""
        if write and self.read_only:
            raise Forbidden(
                "this API key is read-only (usage and invoices); predictions, feedback and "
                "outcomes need a key created without --read-only"
            )
        if scenario is not None and self.scenarios is not None and scenario not in self.scenarios:
            raise Forbidden(
                f"this API key is limited to the scenarios {', '.join(self.scenarios)}; use a "
                f"key that covers '{scenario[:100]}'"
            )


def authenticate(store: Store, authorization: str | None) -> Caller:
    if not authorization:
        raise Unauthorized(
            "missing API key; send the header 'Authorization: Bearer mm_live_...' "
            "(create a key with `modelmint keys create --tenant NAME`)"
        )
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("malformed Authorization header; use 'Authorization: Bearer <key>'")
    digest = hash_key(key)
    rec = store.billing.key_by_hash(digest)
    if rec is None or not hmac.compare_digest(rec["key_hash"], digest):
        raise Unauthorized("unknown API key; check it was copied whole, or create a new one")
    if rec["revoked_at"] is not None:
        raise Unauthorized(
            "this API key was revoked; create a new one with `modelmint keys create`"
        )
    if rec["expires_at"] is not None and rec["expires_at"] <= datetime.now(UTC):
        raise Unauthorized(
            f"this API key expired at {rec['expires_at']:%Y-%m-%d %H:%M} UTC; use its "
            "replacement, or create a new one with `modelmint keys create`"
        )
    if rec["tenant_status"] == "suspended":
        raise Forbidden(f"tenant '{rec['tenant']}' is suspended; contact the API provider")
    return Caller(
        key_id=rec["key_id"],
        tenant_id=rec["tenant_id"],
        tenant=rec["tenant"],
        plan=rec["plan"],
        currency=rec["currency"],
        price_per_1k_micros=rec["price_per_1k_micros"],
        monthly_quota=rec["monthly_quota"],
        rate_limit_rps=rec["rate_limit_rps"],
        burst=rec["burst"],
        live=rec["mode"] == "live",
        scenarios=tuple(rec["scenarios"]) if rec["scenarios"] is not None else None,
        read_only=rec["access"] == "read",
        tenant_rate_limit_rps=rec["tenant_rate_limit_rps"],
        max_concurrent=rec["max_concurrent"],
        budget_micros=rec["budget_micros"],
    )


def max_units_within(budget_micros: int, price_per_1k_micros: int) -> int:
    """The most units whose amount (rounded half up, as billed) stays within the budget."""
    units = budget_micros * 1000 // price_per_1k_micros
    while units > 0 and amount_for(units, price_per_1k_micros) > budget_micros:
        units -= 1
    while amount_for(units + 1, price_per_1k_micros) <= budget_micros:
        units += 1
    return units


def quota_error(caller: Caller, used: int, asked: int) -> RateLimited:
    """429 for the quota or the budget, whichever cap the call would cross."""
    if caller.monthly_quota is not None and caller.unit_cap == caller.monthly_quota:
        return RateLimited(
            f"monthly quota of {caller.monthly_quota} units reached ({used} used, this call "
            f"needs {asked}); wait for the next period or upgrade the plan",
            retry_after=seconds_to_period_end(),
            limit="quota",
        )
    budget = Money(caller.budget_micros or 0, caller.currency).decimal_str()
    return RateLimited(
        f"monthly budget of {budget} {caller.currency} reached ({used} units used, this call "
        f"needs {asked} more); wait for the next period or raise the plan's budget",
        retry_after=seconds_to_period_end(),
        limit="budget",
    )


# usage -----------------------------------------------------------------------------------------
def usage_summary(
    store: Store, *, period: str | None = None, tenant: str | None = None
) -> list[dict]:
    """Per tenant: units, requests and the amount owed under its plan in `period`."""
    period = validate_period(period or current_period())
    tenants = store.billing.tenants()
    if tenant is not None:
        store.billing.tenant(tenant)  # NotFound with a fix
        tenants = [t for t in tenants if t["name"] == tenant]
    plans = {p["name"]: p for p in store.billing.plans()}
    rows = store.billing.usage_by_scenario(period)
    test_rows = store.billing.usage_by_scenario(period, live=False)
    out = []
    for t in tenants:
        plan = plans[t["plan"]]
        mine = [r for r in rows if r["tenant_id"] == t["id"]]
        units = sum(r["units"] for r in mine)
        due = Money(amount_for(units, plan["price_per_1k_micros"]), plan["currency"])
        out.append(
            {
                "tenant": t["name"],
                "plan": plan["name"],
                "period": period,
                "total_units": units,
                "requests": sum(r["requests"] for r in mine),
                "quota": plan["monthly_quota"],
                "price_per_1k": Money(plan["price_per_1k_micros"], plan["currency"]).decimal_str(),
                "currency": plan["currency"],
                "amount_due": due.decimal_str(),
                "amount_due_micros": due.micros,
                "by_scenario": [
                    {k: r[k] for k in ("scenario", "unit_type", "units", "requests")} for r in mine
                ],
                "by_day": store.billing.usage_by_day(period, t["id"]),
                # mm_test_ keys: metered, never billed, no quota
                "test_units": sum(r["units"] for r in test_rows if r["tenant_id"] == t["id"]),
            }
        )
    return out
