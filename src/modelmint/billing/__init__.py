"""Billing stage: tenants, plans, hashed keys, quotas, rate limits, usage and amounts owed.

The names below load on first use (as in ``modelmint``), so importing a light module of the
package, such as ``billing.plans`` for the CLI's plan options, does not load the store."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "KEY_PREFIX": "modelmint.billing.core",
    "TEST_KEY_PREFIX": "modelmint.billing.core",
    "Caller": "modelmint.billing.core",
    "KeyCache": "modelmint.billing.core",
    "authenticate": "modelmint.billing.core",
    "change_plan": "modelmint.billing.core",
    "create_key": "modelmint.billing.core",
    "create_plan": "modelmint.billing.core",
    "create_tenant": "modelmint.billing.core",
    "current_period": "modelmint.billing.core",
    "hash_key": "modelmint.billing.core",
    "plan_public": "modelmint.billing.core",
    "quota_error": "modelmint.billing.core",
    "resolve_plan": "modelmint.billing.core",
    "revoke_key": "modelmint.billing.core",
    "rotate_key": "modelmint.billing.core",
    "seconds_to_period_end": "modelmint.billing.core",
    "set_tenant_status": "modelmint.billing.core",
    "update_plan": "modelmint.billing.core",
    "validate_period": "modelmint.billing.core",
    "usage_summary": "modelmint.billing.invoices",
    "Limits": "modelmint.billing.limits",
    "limits_for": "modelmint.billing.limits",
    "PlanField": "modelmint.billing.plans",
    "PlanSpec": "modelmint.billing.plans",
    "plan_fields": "modelmint.billing.plans",
    "Pricing": "modelmint.billing.pricing",
    "amount_for": "modelmint.billing.pricing",
    "max_units_within": "modelmint.billing.pricing",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'modelmint.billing' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
