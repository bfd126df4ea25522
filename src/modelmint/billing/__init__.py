"""Billing stage: tenants, plans, hashed keys, quotas, rate limits, usage and amounts owed."""

from modelmint.billing.core import (
    KEY_PREFIX,
    TEST_KEY_PREFIX,
    Caller,
    amount_for,
    authenticate,
    create_key,
    create_plan,
    create_tenant,
    current_period,
    hash_key,
    max_units_within,
    quota_error,
    rotate_key,
    seconds_to_period_end,
    set_tenant_status,
    usage_summary,
    validate_period,
)
from modelmint.billing.limits import Limits, limits_for

__all__ = [
    "KEY_PREFIX",
    "TEST_KEY_PREFIX",
    "Caller",
    "Limits",
    "amount_for",
    "authenticate",
    "create_key",
    "create_plan",
    "create_tenant",
    "current_period",
    "hash_key",
    "limits_for",
    "max_units_within",
    "quota_error",
    "rotate_key",
    "seconds_to_period_end",
    "set_tenant_status",
    "usage_summary",
    "validate_period",
]
