"""The range of every number an operator gives billing, and the checks that hold it.

The CLI (`modelmint plans|tenants|keys|invoices`) and the admin API both reach billing through
the functions of this package, so these checks are the one source of truth for both: a value
outside its range is refused with `InvalidInput` (400, exit 2) naming the field, the range and
the fix, before anything is stored. docs/api.md and docs/billing.md list the same ranges.

==================================  ===========================================================
what                                range
==================================  ===========================================================
money (prices, fees, budgets,       0 to 1,000,000,000 of the currency's unit, at most 6
credit amounts)                     decimals (what is stored: integer micro-units)
quota, included units, tier bounds  0 to 10^12 units (tier bounds from 1)
burst                               1 to 1,000,000 requests
concurrency                         1 to 100,000 calls in flight
rate limits                         0.001 to 1,000,000 requests/s, finite
trial days                          0 to 365 on a plan; 1 to 365 on a tenant
key lifetime (``--expires-in``)     1 minute to 10 years
rotation overlap (``--overlap``)    0 seconds to 10 years
plan version (``NAME@VERSION``)     1 to 2,147,483,647
currency                            an ISO 4217 code (pycountry's list), not XXX or XTS
==================================  ===========================================================
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from modelmint.errors import InvalidInput

MAX_MONEY = Decimal(1_000_000_000)  # in units of the currency
MONEY_DECIMALS = 6  # micro-units: what is stored
MAX_UNITS = 10**12  # quota, included units, tier bounds: units in a month
MAX_BURST = 1_000_000
MAX_CONCURRENCY = 100_000
MIN_RATE = 0.001  # one request every 1,000 s
MAX_RATE = 1_000_000.0
MAX_TRIAL_DAYS = 365
MIN_KEY_LIFETIME = timedelta(minutes=1)
MAX_DURATION = timedelta(days=3650)  # 10 years
MAX_PLAN_VERSION = 2**31 - 1  # the plans.version column
NOT_MONEY = ("XXX", "XTS")  # ISO 4217 codes for "no currency" and "testing"

_STEP = Decimal(1).scaleb(-MONEY_DECIMALS)
_DURATION = re.compile(r"(\d{1,12})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _range_text(lo: int | float, hi: int | float) -> str:
    return f"{lo:,} to {hi:,}" if isinstance(lo, int) else f"{lo:g} to {hi:,.0f}"


def money_micros(text: Any, currency: str, field: str, *, positive: bool = False) -> int:
    """'2.00' -> 2000000: a decimal amount of `currency` within the money range, as integer
    micro-units. ``positive``: 0 is refused too."""
    raw = str(text).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput(
            f"{field} '{raw[:40]}' is not an amount of money; write a decimal number such as 2.00"
        ) from None
    fix = (
        f"give {'more than 0' if positive else '0'} to {MAX_MONEY:,} {currency} with at most "
        f"{MONEY_DECIMALS} decimals, e.g. 2.00"
    )
    if not value.is_finite() or value < 0 or value > MAX_MONEY or (positive and value == 0):
        raise InvalidInput(f"{field} '{raw[:40]}' is out of range; {fix}")
    if value != value.quantize(_STEP):
        raise InvalidInput(
            f"{field} '{raw[:40]}' has more than {MONEY_DECIMALS} decimals (amounts are kept in "
            f"micro-units); {fix}"
        )
    return int(value.scaleb(MONEY_DECIMALS))


def whole_number(value: Any, field: str, lo: int, hi: int, meaning: str) -> int:
    """An integer in lo..hi (bools and fractions refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidInput(
                f"{field} must be a whole number of {meaning} from {_range_text(lo, hi)}, "
                f"not {str(value)[:40]}"
            )
    if not lo <= value <= hi:
        raise InvalidInput(
            f"{field} {str(value)[:40]} is out of range; give {meaning} from {_range_text(lo, hi)}"
        )
    return value


def rate(value: Any, field: str) -> float:
    """Requests per second: finite, MIN_RATE..MAX_RATE (NaN and Infinity are not 'no limit':
    leave the option out for that)."""
    try:
        rps = float(value)
    except (TypeError, ValueError):
        rps = math.nan
    if isinstance(value, bool) or not math.isfinite(rps) or not MIN_RATE <= rps <= MAX_RATE:
        raise InvalidInput(
            f"{field} {str(value)[:40]} is out of range; give requests per second from "
            f"{MIN_RATE:g} to {MAX_RATE:,.0f} (leave it out for no limit)"
        )
    return rps


def duration(text: str | None, field: str, *, least: timedelta = MIN_KEY_LIFETIME) -> timedelta:
    """'90d', '24h', '30m', '45s' -> timedelta, within least..MAX_DURATION."""
    m = _DURATION.fullmatch((text or "").strip())
    if not m:
        raise InvalidInput(
            f"{field} '{(text or '')[:40]}' is not a duration; use a whole number and s, m, h "
            "or d, e.g. 90d, 24h or 30m"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if not least.total_seconds() <= seconds <= MAX_DURATION.total_seconds():
        low = "0s" if not least else f"{int(least.total_seconds() // 60)}m"
        raise InvalidInput(
            f"{field} {text.strip()} is out of range; give a duration from {low} to "
            f"{MAX_DURATION.days}d (10 years), e.g. 90d"
        )
    return timedelta(seconds=seconds)


def currency_code(text: str | None, field: str = "currency") -> str:
    """'usd' -> 'USD', an ISO 4217 currency code (pycountry's list)."""
    import pycountry

    code = (text or "").strip().upper()
    known = (
        re.fullmatch(r"[A-Z]{3}", code)
        and code not in NOT_MONEY
        and pycountry.currencies.get(alpha_3=code) is not None
    )
    if not known:
        raise InvalidInput(
            f"{field} '{(text or '')[:20]}' is not an ISO 4217 currency code; use one such as "
            "USD, EUR, GBP, JPY or CNY"
        )
    return code
