"""Tenants, plans, hashed API keys, quotas, rate limits and what a tenant owes.

Money is integer micro-units at every step. Keys are shown once and stored as SHA-256 hashes
(keys are 190-bit random strings, so a fast hash is the right tool; bcrypt is for passwords)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from modelmint.billing import ranges, webhooks
from modelmint.billing.plans import PLAN_COLUMNS, UNSETTABLE, PlanSpec, public_fields
from modelmint.billing.pricing import Pricing, usage_cap
from modelmint.errors import ConfigError, Forbidden, InvalidInput, RateLimited, Unauthorized
from modelmint.store import Store
from modelmint.types import Money

if TYPE_CHECKING:
    from modelmint.settings import Settings

KEY_PREFIX = "mm_live_"
TEST_KEY_PREFIX = "mm_test_"
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
        bp = Decimal(str(percent).strip()) * 100
    except InvalidOperation as exc:
        raise InvalidInput(f"{what} '{percent}' is not a number of percent, e.g. 20") from exc
    if not bp.is_finite() or bp < 0 or bp > 10000 or bp != bp.to_integral_value():
        raise InvalidInput(f"{what} {percent}% must be 0-100 with at most 2 decimals, e.g. 7.5")
    return int(bp)


FIRST_YEAR, LAST_YEAR = 1970, 9998  # periods a date can hold with its end (the next month)


def validate_period(period: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period or ""):
        raise InvalidInput(f"period '{period[:20]}' is not YYYY-MM, e.g. {current_period()}")
    if not FIRST_YEAR <= int(period[:4]) <= LAST_YEAR:
        raise InvalidInput(
            f"period {period} is out of range; give a month from {FIRST_YEAR}-01 to "
            f"{LAST_YEAR}-12, e.g. {current_period()}"
        )
    return period


def seconds_to_period_end(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    end = datetime(now.year, now.month, days, tzinfo=UTC).timestamp() + 86400
    return max(1, int(end - now.timestamp()))


# plans and tenants ---------------------------------------------------------------------------
def create_plan(
    store: Store, name: str, spec: PlanSpec | None = None, **fields: Any
) -> dict[str, Any]:
    """Version 1 of plan `name` with the options of `spec` (see `PlanSpec` for each one's
    meaning, unit and range). Keywords instead of `spec` are PlanSpec's fields, the short form:
    ``create_plan(store, "free", price_per_1k="0", quota=1000)``.

    Pay-as-you-go: ``price_per_1k`` (the default price), ``prices`` such as
    ``["reviews:explain=5.00", "*:explain=3.00"]`` for scenarios and unit types, or ``tiers``
    such as ``["100000=2.00", "inf=1.50"]`` (``tier_mode`` graduated or volume) instead of the
    default price. Free tier: price 0 and a ``quota``. Subscription: ``fee`` a month with
    ``included`` units, the rest at the usage prices (the overage). ``trial_days``: new tenants
    start in a trial whose usage is not charged. The currency is USD unless given."""
    spec = PlanSpec.of(spec, fields)
    _check_name("plan", name)
    currency = ranges.currency_code(spec.currency or "USD")
    if spec.price_per_1k is None and not spec.tiers:
        raise InvalidInput("give a price: --price-per-1k 2.00 (0 for a free tier) or --tier lines")
    columns = spec.columns(currency) | {"currency": currency}
    plan = store.billing.create_plan(name=name, version=1, **columns)
    store.audit.record("plan.create", f"plan:{name}", after=plan_public(plan))
    return plan


def update_plan(
    store: Store,
    name: str,
    spec: PlanSpec | None = None,
    *,
    unset: list[str] | None = None,
    move_tenants: bool = False,
    **fields: Any,
) -> tuple[dict[str, Any], list[str]]:
    """A new version of plan `name`: the latest version with the options `spec` gives changed
    and those in `unset` cleared (keywords instead of `spec`: as for `create_plan`). Tenants
    stay on their version unless ``move_tenants`` (then they move now, and their invoices
    prorate the change). Returns (new version, tenants moved)."""
    spec = PlanSpec.of(spec, fields)
    latest = store.billing.plan(name)
    if spec.currency is not None:
        raise InvalidInput(
            f"a plan keeps its currency ({latest['currency']}) in every version; create a new "
            "plan for another currency"
        )
    changes = spec.columns(latest["currency"])
    for opt in unset or []:
        if opt not in UNSETTABLE:
            raise InvalidInput(f"--unset {opt}: choose from {', '.join(UNSETTABLE)}")
        column, empty = UNSETTABLE[opt]
        if column in changes:
            raise InvalidInput(f"--unset {opt} and a new value for it: give one of the two")
        changes[column] = empty
    if not changes:
        raise InvalidInput(
            "nothing to change: give the options to change, e.g. --price-per-1k 1.50"
        )
    new_price = spec.price_per_1k is not None
    tiers_after = changes["tiers"] if "tiers" in changes else latest["tiers"]
    if new_price and tiers_after:
        raise InvalidInput(
            f"plan {name} is priced by tiers; change them with --tier, or --unset tiers "
            "together with --price-per-1k"
        )
    if latest["tiers"] and not tiers_after and not new_price:
        raise InvalidInput("dropping the tiers needs a default price: add --price-per-1k")
    values = {k: latest[k] for k in PLAN_COLUMNS} | changes
    plan = store.billing.create_plan(name=name, version=latest["version"] + 1, **values)
    moved = []
    if move_tenants:
        older = [p["id"] for p in store.billing.plans(name) if p["id"] != plan["id"]]
        for tenant in store.billing.tenants_on(older):
            store.billing.change_plan(tenant["id"], plan["id"], datetime.now(UTC))
            moved.append(tenant["name"])
    store.audit.record(
        "plan.update",
        f"plan:{name}",
        before=plan_public(latest),
        after={**plan_public(plan), "tenants_moved": moved},
    )
    return plan, moved


def plan_public(p: dict[str, Any]) -> dict[str, Any]:
    """A plan version as the CLI's --json and the admin API show it: every PlanSpec field
    (money as decimal strings), the integer micros of the default price, and the pricing in
    one line."""
    return {
        "name": p["name"],
        "version": p["version"],
        **public_fields(p),
        "price_per_1k_micros": p["price_per_1k_micros"],
        "pricing": Pricing.of(p).describe(),
        "created_at": p["created_at"].isoformat() if p.get("created_at") else None,
    }


def resolve_plan(store: Store, ref: str) -> dict[str, Any]:
    """'pro' -> the latest version of pro; 'pro@2' -> version 2."""
    name, sep, version = ref.partition("@")
    if sep and not re.fullmatch(r"[0-9]+", version):
        raise InvalidInput(f"plan '{ref[:80]}' is not NAME or NAME@VERSION, e.g. pro@2")
    number = None
    if sep:
        if len(version) > 12:  # out of range, without converting a huge digit string
            raise InvalidInput(
                f"plan version {version[:20]}... is out of range; give a version from 1 to "
                f"{ranges.MAX_PLAN_VERSION:,}, e.g. {name}@2"
            )
        number = ranges.whole_number(
            int(version), "plan version", 1, ranges.MAX_PLAN_VERSION, "a version"
        )
    return store.billing.plan(name, number)


def change_plan(store: Store, tenant: str, plan: str) -> dict[str, Any]:
    """Move a tenant to another plan (or plan version) now. Usage from now on is priced by the
    new plan; fees and included units of both are prorated on the period's invoice."""
    t = store.billing.tenant(tenant)
    p = resolve_plan(store, plan)
    if p["id"] == t["plan_id"]:
        raise InvalidInput(f"tenant {tenant} is already on {p['name']} v{p['version']}")
    if t.get("currency") and t["currency"] != p["currency"]:
        raise InvalidInput(
            f"tenant {tenant} is billed in {t['currency']} and plan {p['name']} in "
            f"{p['currency']}; pick a plan priced in {t['currency']}"
        )
    store.billing.change_plan(t["id"], p["id"], datetime.now(UTC))
    before = store.billing.plan_by_id(t["plan_id"])
    store.audit.record(
        "tenant.change_plan",
        f"tenant:{tenant}",
        before={"plan": before["name"], "version": before["version"]},
        after={"plan": p["name"], "version": p["version"]},
    )
    return {"tenant": tenant, "plan": p["name"], "version": p["version"]}


TENANT_STATUSES = ("trial", "active", "suspended")
DEFAULT_TRIAL_DAYS = 14  # `--status trial` on a plan without trial days
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create_tenant(
    store: Store,
    name: str,
    *,
    plan: str,
    status: str | None = None,
    currency: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    discount_percent: str | None = None,
    webhook_url: str | None = None,
    trial_days: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A customer organisation on a plan (NAME or NAME@VERSION). Its currency is the plan's (a
    different one is refused). It starts in a trial when the plan has trial days, or with
    ``status='trial'`` or ``trial_days``: usage until ``trial_ends_at`` is not charged, and
    `set_tenant_status(..., 'active')` ends the trial early (suspend the same way).

    ``webhook_url`` needs ``settings``: the URL is checked against
    ``webhook_allow_private`` and the new signing secret is sealed with the server key; the
    returned record carries the secret in clear (shown once), the database only sealed."""
    _check_name("tenant", name)
    p = resolve_plan(store, plan)
    if trial_days is not None and (
        isinstance(trial_days, bool)
        or not isinstance(trial_days, int)
        or not 1 <= trial_days <= ranges.MAX_TRIAL_DAYS
    ):
        raise InvalidInput(
            f"trial_days {str(trial_days)[:20]} is out of range: a tenant's trial is at least 1 "
            f"and at most {ranges.MAX_TRIAL_DAYS} days (omit it for the plan's trial)"
        )
    if not 0 <= p["trial_days"] <= ranges.MAX_TRIAL_DAYS:  # stored by an older version
        raise InvalidInput(
            f"plan {p['name']} v{p['version']} has a trial of {p['trial_days']} days, more than "
            f"{ranges.MAX_TRIAL_DAYS}; give --trial-days, or make a new version with "
            f"`modelmint plans update {p['name']} --trial-days 14`"
        )
    days = trial_days or p["trial_days"] or (DEFAULT_TRIAL_DAYS if status == "trial" else 0)
    status = status or ("trial" if days else "active")
    if status not in ("trial", "active"):
        raise InvalidInput(f"a new tenant's status is trial or active, not '{status}'")
    if status == "active" and trial_days:
        raise InvalidInput("--trial-days with --status active: drop one of them")
    trial_ends_at = datetime.now(UTC) + timedelta(days=days) if status == "trial" else None
    if currency is not None:
        currency = ranges.currency_code(currency)
    if currency is not None and currency != p["currency"]:
        raise InvalidInput(
            f"tenant currency {currency.upper()} differs from plan {plan}'s {p['currency']}; "
            f"pick a plan priced in {currency.upper()} or drop --currency"
        )
    if contact_email is not None and not _EMAIL.fullmatch(contact_email):
        raise InvalidInput(f"'{contact_email}' is not an email address; e.g. billing@acme.com")
    discount_bp = percent_bp(discount_percent, "--discount") if discount_percent else 0
    secret = sealed = None
    if webhook_url is not None:
        if settings is None:
            raise ConfigError("create_tenant with a webhook_url needs settings=; pass them down")
        webhooks.check_url(webhook_url, allow_private=settings.webhook_allow_private)
        box = webhooks.SecretBox.from_settings(settings)
        secret = box.new_secret()  # signs alert webhooks; shown once, stored sealed
        sealed = box.seal(name, secret)
    rec = store.billing.create_tenant(
        name,
        p["id"],
        status,
        currency=p["currency"],
        contact_name=contact_name,
        contact_email=contact_email,
        discount_bp=discount_bp,
        webhook_url=webhook_url,
        trial_ends_at=trial_ends_at,
        webhook_secret=sealed,
    )
    store.audit.record("tenant.create", f"tenant:{name}", after=rec)
    return {**rec, "webhook_secret": secret}


def set_tenant_status(store: Store, name: str, status: str) -> dict[str, Any]:
    """trial, active or suspended; a suspended tenant's keys get 403 on their next request."""
    if status not in TENANT_STATUSES:
        raise InvalidInput(f"status '{status}' is not one of {', '.join(TENANT_STATUSES)}")
    before = store.billing.tenant(name)["status"]
    rec = store.billing.set_tenant_status(name, status)
    store.audit.record(
        "tenant.status", f"tenant:{name}", before={"status": before}, after={"status": status}
    )
    return rec


# keys ------------------------------------------------------------------------------------------
def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_duration(
    text: str, what: str, *, least: timedelta = ranges.MIN_KEY_LIFETIME
) -> timedelta:
    """'90d', '24h', '30m' -> timedelta, from `least` to 10 years (`ranges.duration`)."""
    return ranges.duration(text, what, least=least)


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
    scenarios it may call (None: all; an empty list is refused, never read as "all").
    ``read_only``: usage and invoices, no predictions or feedback. ``expires_in``: a duration
    such as ``90d``, from 1 minute to 10 years."""
    t = store.billing.tenant(tenant)
    if scenarios is not None and not scenarios:
        raise InvalidInput(
            "scenarios is an empty list, which would limit the key to nothing; leave it out "
            "for a key that may call every scenario, or name at least one"
        )
    for s in scenarios or []:
        _check_name("scenario", s)
    expires_at = (
        datetime.now(UTC) + parse_duration(expires_in, "expires_in")
        if expires_in is not None
        else None
    )
    key, rec = _new_key(
        store,
        t["id"],
        name,
        mode="test" if test else "live",
        scenarios=sorted(set(scenarios)) if scenarios is not None else None,
        access="read" if read_only else "write",
        expires_at=expires_at,
    )
    store.audit.record("key.create", _key_target(store, t["id"], rec["id"]), after=rec)
    return key, rec


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
    old_until = now + parse_duration(overlap, "overlap", least=timedelta(0))
    key, rec = _new_key(
        store,
        old["tenant_id"],
        old["name"],
        mode=old["mode"],
        scenarios=old["scenarios"],
        access=old["access"],
        expires_at=old["expires_at"],
        expire_old=(key_id, old_until),
    )
    store.audit.record(
        "key.rotate",
        _key_target(store, old["tenant_id"], key_id),
        before=old,
        after={"new_key": rec, "old_key_expires_at": old_until},
    )
    return key, rec


def revoke_key(store: Store, key_id: str) -> dict[str, Any]:
    """Revoke a key now (it fails on its next request); revoking it again changes nothing."""
    rec = store.billing.revoke_key(key_id)
    if rec.get("revoked_now"):
        store.audit.record(
            "key.revoke",
            _key_target(store, rec["tenant_id"], key_id),
            before={"revoked_at": None},
            after={"revoked_at": rec["revoked_at"]},
        )
    return rec


def _key_target(store: Store, tenant_id: int, key_id: str) -> str:
    return f"tenant:{store.billing.tenant_name(tenant_id)}/key:{key_id}"


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
    # what the budget buys: included units + budget at the plan's dearest unit price
    budget_units: int | None = None
    plan_id: int | None = None  # the plan version (a cached caller is re-checked against it)

    @property
    def unit_cap(self) -> int | None:
        """Units this tenant may use in a period: the quota or the budget's units, whichever is
        lower (None: no cap)."""
        caps = [c for c in (self.monthly_quota, self.budget_units) if c is not None]
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
        budget_units=usage_cap(Pricing.of(rec), None, rec["budget_micros"]),
        plan_id=rec["plan_id"],
    )


class KeyCache:
    """Callers by key hash, for predict's hot path: a key is read from the database at most
    once per ``ttl`` seconds per process. Revocation, expiry and suspension still take effect
    at once: the metering transaction re-checks every cached key (`record_requests` with
    ``plan_id``), so a request whose key was revoked meanwhile is refused and not metered. Plan
    changes reach the limits within ``ttl``; quotas see them at once (a changed plan makes the
    metering transaction answer "stale", and the request is re-authenticated). Unknown keys
    are never cached."""

    def __init__(self, store: Store, ttl: float = 5.0, size: int = 10_000) -> None:
        self.store, self.ttl, self.size = store, ttl, size
        self._callers: dict[str, tuple[float, Caller]] = {}

    def cached(self, authorization: str | None) -> Caller | None:
        """The cached caller for this header, or None (no I/O)."""
        if not authorization or self.ttl <= 0:
            return None
        hit = self._callers.get(hash_key(authorization))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def authenticate(self, authorization: str | None) -> Caller:
        """From the database (errors as `authenticate`), then cached."""
        caller = authenticate(self.store, authorization)
        if self.ttl > 0:
            if len(self._callers) >= self.size:
                self._callers.clear()
            assert authorization is not None
            self._callers[hash_key(authorization)] = (time.monotonic() + self.ttl, caller)
        return caller

    def drop(self, authorization: str | None) -> None:
        self._callers.pop(hash_key(authorization or ""), None)


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
