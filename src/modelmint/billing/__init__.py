"""Billing stage: tenants, plans, hashed keys, quotas, rate limits, usage and amounts owed."""

from modelmint.billing.core import (
    KEY_PREFIX,
    TEST_KEY_PREFIX,
    Caller,
    KeyCache,
    authenticate,
    change_plan,
    create_key,
    create_plan,
    create_tenant,
    current_period,
    hash_key,
    plan_public,
    quota_error,
    resolve_plan,
    rotate_key,
    seconds_to_period_end,
    set_tenant_status,
    update_plan,
    validate_period,
)
from modelmint.billing.invoices import usage_summary
from modelmint.billing.limits import Limits, limits_for
from modelmint.billing.pricing import Pricing, amount_for, max_units_within

__all__ = [
    "KEY_PREFIX",
    "TEST_KEY_PREFIX",
    "Caller",
    "KeyCache",
    "Limits",
    "Pricing",
    "amount_for",
    "authenticate",
    "change_plan",
    "create_key",
    "create_plan",
    "create_tenant",
    "current_period",
    "hash_key",
    "limits_for",
    "max_units_within",
    "plan_public",
    "quota_error",
    "resolve_plan",
    "rotate_key",
    "seconds_to_period_end",
    "set_tenant_status",
    "update_plan",
    "usage_summary",
    "validate_period",
]
