"""Dated exchange rates given by the owner, and conversion with them.

``modelmint fx set USD CNY 7.12 --date 2026-11-01`` means 1 USD = 7.12 CNY from that day until
the next rate given for the pair. An amount dated D converts with the newest rate of its pair on
or before D (the inverse pair's rate, inverted, when only that one is given). Converted micros
are rounded half up once, at the end. Nothing is ever fetched from the internet."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from modelmint.billing import ranges
from modelmint.errors import InvalidInput
from modelmint.store import Store

MAX_RATE = Decimal("1000000000")  # 1 unit of one currency is never worth 10^9 of another


def parse_rate(text: str) -> Decimal:
    raw = str(text).strip()
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput(f"rate '{raw[:40]}' is not a number; e.g. 7.12") from None
    if not rate.is_finite() or rate <= 0 or rate > MAX_RATE:
        raise InvalidInput(f"rate '{raw[:40]}' is out of range; give more than 0, up to 10^9")
    if -rate.as_tuple().exponent > 12:  # type: ignore[operator]
        raise InvalidInput(f"rate '{raw[:40]}' has more than 12 decimals; round it")
    return rate


def parse_day(text: str) -> str:
    raw = str(text).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidInput(f"--date '{raw[:40]}' is not a date; write YYYY-MM-DD") from None


def set_rate(store: Store, base: str, quote: str, rate: str, day: str) -> dict[str, Any]:
    """Record 1 `base` = `rate` `quote` from `day` on (a second rate for the same day
    replaces the first)."""
    b = ranges.currency_code(base, "base currency")
    q = ranges.currency_code(quote, "quote currency")
    if b == q:
        raise InvalidInput(f"{b} to {q} is always 1; give two different currencies")
    r = parse_rate(rate)
    d = parse_day(day)
    store.insights.set_rate(b, q, d, str(r))
    out = {"base": b, "quote": q, "rate": str(r), "date": d}
    store.audit.record("fx.set", f"fx:{b}/{q}", after=out)
    return out


def list_rates(store: Store) -> list[dict[str, Any]]:
    return [
        {"base": r["base"], "quote": r["quote"], "rate": r["rate"], "date": r["day"]}
        for r in store.insights.rates()
    ]


class Converter:
    """Converts micros of any currency into `target` with the stored rates. Remembers which
    rates it used, so a report can say so."""

    def __init__(self, rates: list[dict[str, Any]], target: str) -> None:
        self.target = target
        self._pairs: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
        for r in rates:
            self._pairs.setdefault((r["base"], r["quote"]), []).append(
                (r["day"], Decimal(r["rate"]))
            )
        for v in self._pairs.values():
            v.sort()
        self.used: dict[tuple[str, str, str], str] = {}  # (from, to, day) -> rate

    @classmethod
    def of(cls, store: Store, target: str) -> Converter:
        return cls(store.insights.rates(), ranges.currency_code(target, "--currency"))

    def rate(self, currency: str, day: str) -> Decimal | None:
        if currency == self.target:
            return Decimal(1)
        direct = [(d, r) for d, r in self._pairs.get((currency, self.target), []) if d <= day]
        inverse = [(d, r) for d, r in self._pairs.get((self.target, currency), []) if d <= day]
        best = max(
            [(d, r, False) for d, r in direct[-1:]] + [(d, r, True) for d, r in inverse[-1:]],
            default=None,
            key=lambda x: x[0],
        )
        if best is None:
            return None
        d, r, inv = best
        rate = Decimal(1) / r if inv else r
        self.used[(currency, self.target, d)] = str(r) if not inv else f"1/{r}"
        return rate

    def convert(self, micros: int, currency: str, day: str) -> int:
        rate = self.rate(currency, day)
        if rate is None:
            raise InvalidInput(
                f"no {currency}->{self.target} exchange rate on or before {day}; add one with "
                f"`modelmint fx set {currency} {self.target} RATE --date {day}` (or leave out "
                "--currency to see figures per currency)"
            )
        return int((Decimal(micros) * rate).to_integral_value(rounding=ROUND_HALF_UP))

    def notes(self) -> list[str]:
        return [
            f"converted {a}->{b} at {r} (rate of {d})" for (a, b, d), r in sorted(self.used.items())
        ]
