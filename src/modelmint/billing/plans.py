"""`PlanSpec`: every option of a plan, documented once.

A plan's options are what `modelmint plans create|update` take, what `POST /v1/admin/plans`
and `POST /v1/admin/plans/{name}/versions` take, and what `billing.create_plan` and
`billing.update_plan` take. All three read them from the one dataclass here: each field carries
its meaning, unit and range (from `billing.ranges`), the CLI spelling, the `plans` column it is
stored in, the check that holds it to its range, and what `--unset` puts back. The CLI builds
its options from `plan_fields()`, the admin API builds its request bodies from it, so adding a
plan option means adding a field here (and its column in the store).

Values are as an operator types them: money as decimal strings ("2.00", parsed exactly and
stored as integer micro-units), counts as integers, rates as floats, scoped prices and tiers as
the ``SCOPE=PRICE`` / ``UP_TO=PRICE`` lines of the CLI. ``None``: not given (on create, the
default; on update, unchanged)."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmint.billing import ranges
from modelmint.billing.pricing import TIER_MODES, parse_prices, parse_tiers
from modelmint.errors import InvalidInput
from modelmint.types import Money

Check = Callable[[Any, str, str], Any]  # (value, currency, field name) -> column value
Show = Callable[[Any, str], Any]  # (column value, currency) -> the value plan_public shows

_KEEP = object()  # `clears_to` of a field `--unset` cannot clear

MONEY_RANGE = f"0 to {ranges.MAX_MONEY:,}, at most {ranges.MONEY_DECIMALS} decimals"
UNITS_RANGE = f"0 to {ranges.MAX_UNITS:,}"
RATE_RANGE = f"{ranges.MIN_RATE:g} to {ranges.MAX_RATE:,.0f}, finite"


# checks and shows ------------------------------------------------------------------------------
def _money(*, positive: bool = False) -> Check:
    def check(value: Any, currency: str, name: str) -> int:
        return ranges.money_micros(value, currency, name, positive=positive)

    return check


def _count(least: int, most: int, meaning: str) -> Check:
    def check(value: Any, currency: str, name: str) -> int:
        return ranges.whole_number(value, name, least, most, meaning)

    return check


def _rate(value: Any, currency: str, name: str) -> float:
    return ranges.rate(value, name)


def _prices(value: Any, currency: str, name: str) -> dict[str, int] | None:
    return parse_prices(value, currency) or None


def _tiers(value: Any, currency: str, name: str) -> list[dict[str, Any]] | None:
    return parse_tiers(value, currency) or None


def _tier_mode(value: Any, currency: str, name: str) -> str:
    if value not in TIER_MODES:
        raise InvalidInput(f"--tier-mode must be one of {', '.join(TIER_MODES)}")
    return str(value)


def _currency(value: Any, currency: str, name: str) -> str:
    return ranges.currency_code(value, name)


def _as_is(value: Any, currency: str) -> Any:
    return value


def _money_text(micros: int | None, currency: str) -> str | None:
    return None if micros is None else Money(micros, currency).decimal_str()


def _price_texts(prices: dict[str, int] | None, currency: str) -> dict[str, str | None]:
    return {k: _money_text(v, currency) for k, v in (prices or {}).items()}


def _tier_texts(tiers: list[dict[str, Any]] | None, currency: str) -> list[dict[str, Any]]:
    return [
        {"up_to": t["up_to"], "price_per_1k": _money_text(t["price_per_1k_micros"], currency)}
        for t in tiers or []
    ]


def _about(
    meaning: str,
    *,
    unit: str,
    range: str,
    column: str,
    check: Check,
    example: str,
    flag: str = "",
    clears_to: Any = _KEEP,
    show: Show = _as_is,
    shown_as: str = "",
    updatable: bool = True,
    length: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A PlanSpec field's metadata: what the CLI, the admin API and the store need of it."""
    return {
        "plan": dict(
            meaning=meaning,
            unit=unit,
            range=range,
            column=column,
            check=check,
            example=example,
            flag=flag,
            clears_to=clears_to,
            show=show,
            shown_as=shown_as,
            updatable=updatable,
            length=length,
        )
    }


# the spec ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PlanSpec:
    """The options of a plan version, as an operator gives them (see the module docstring).

    Every field is optional; ``None`` is "not given". A new plan needs a price:
    ``price_per_1k`` or ``tiers``. Each field's meaning, unit and range are in its metadata
    (``plan_fields()``) and listed below; a value outside its range is refused with
    `InvalidInput` naming the field, before anything is stored."""

    price_per_1k: str | None = field(
        default=None,
        metadata=_about(
            "Default price (0: a free tier)",
            unit="the plan's currency per 1,000 units",
            range=MONEY_RANGE,
            column="price_per_1k_micros",
            check=_money(),
            example="2.00",
            show=_money_text,
        ),
    )
    quota: int | None = field(
        default=None,
        metadata=_about(
            "Units a tenant may use a month (omit for unlimited)",
            unit="units per calendar month (UTC)",
            range=UNITS_RANGE,
            column="monthly_quota",
            check=_count(0, ranges.MAX_UNITS, "units per month"),
            example="100000",
            clears_to=None,
        ),
    )
    rate_limit: float | None = field(
        default=None,
        metadata=_about(
            "Requests per second per API key (omit for no limit)",
            unit="requests/s",
            range=RATE_RANGE,
            column="rate_limit_rps",
            check=_rate,
            example="10",
            clears_to=None,
        ),
    )
    burst: int | None = field(
        default=None,
        metadata=_about(
            "Burst size for the rate limit: requests a key may make at once",
            unit="requests",
            range=f"1 to {ranges.MAX_BURST:,}",
            column="burst",
            check=_count(1, ranges.MAX_BURST, "requests"),
            example="20",
            clears_to=None,
        ),
    )
    tenant_rate_limit: float | None = field(
        default=None,
        metadata=_about(
            "Requests per second across all of a tenant's keys (omit for no limit)",
            unit="requests/s",
            range=RATE_RANGE,
            column="tenant_rate_limit_rps",
            check=_rate,
            example="50",
            clears_to=None,
        ),
    )
    concurrency: int | None = field(
        default=None,
        metadata=_about(
            "A tenant's calls in flight at most (omit for no limit)",
            unit="calls",
            range=f"1 to {ranges.MAX_CONCURRENCY:,}",
            column="max_concurrent",
            check=_count(1, ranges.MAX_CONCURRENCY, "calls in flight"),
            example="4",
            clears_to=None,
        ),
    )
    budget: str | None = field(
        default=None,
        metadata=_about(
            "Most a tenant's usage may cost a month, enforced like the quota (a cap)",
            unit="the plan's currency per month",
            range=f"more than 0 to {ranges.MAX_MONEY:,}, at most {ranges.MONEY_DECIMALS} decimals",
            column="budget_micros",
            check=_money(positive=True),
            example="50.00",
            clears_to=None,
            show=_money_text,
        ),
    )
    prices: list[str] | None = field(
        default=None,
        metadata=_about(
            "A price for a scenario and/or unit type: SCENARIO[:predict|explain]=PRICE, '*' for "
            "any scenario (repeat; a list in the API), e.g. reviews:explain=5.00",
            unit="the plan's currency per 1,000 units",
            range=f"prices {MONEY_RANGE}",
            column="prices",
            check=_prices,
            example="reviews:explain=5.00",
            flag="--price",
            clears_to=None,
            show=_price_texts,
        ),
    )
    tiers: list[str] | None = field(
        default=None,
        metadata=_about(
            "A volume tier UP_TO_UNITS=PRICE, instead of a default price; bounds ascending, the "
            "last inf=PRICE (repeat; a list in the API), e.g. 100000=2.00 then inf=1.50",
            unit="units in the month = the plan's currency per 1,000 units",
            range=f"bounds 1 to {ranges.MAX_UNITS:,}; prices {MONEY_RANGE}",
            column="tiers",
            check=_tiers,
            example="inf=1.50",
            flag="--tier",
            clears_to=None,
            show=_tier_texts,
        ),
    )
    tier_mode: str | None = field(
        default=None,
        metadata=_about(
            "How tiers charge: graduated (each tier's units at its price; the default) or volume "
            "(all units at the price of the tier reached)",
            unit="a mode",
            range=" or ".join(TIER_MODES),
            column="tier_mode",
            check=_tier_mode,
            example="volume",
        ),
    )
    fee: str | None = field(
        default=None,
        metadata=_about(
            "Subscription fee",
            unit="the plan's currency per month",
            range=MONEY_RANGE,
            column="fee_micros",
            check=_money(),
            example="49.00",
            clears_to=0,
            show=_money_text,
        ),
    )
    included: int | None = field(
        default=None,
        metadata=_about(
            "Units included each month, before the usage prices apply (the overage)",
            unit="units per month",
            range=UNITS_RANGE,
            column="included_units",
            check=_count(0, ranges.MAX_UNITS, "units per month"),
            example="100000",
            clears_to=0,
            shown_as="included_units",
        ),
    )
    trial_days: int | None = field(
        default=None,
        metadata=_about(
            "Free trial new tenants start with; its usage is not charged",
            unit="days",
            range=f"0 to {ranges.MAX_TRIAL_DAYS}",
            column="trial_days",
            check=_count(0, ranges.MAX_TRIAL_DAYS, "days"),
            example="14",
            clears_to=0,
        ),
    )
    currency: str | None = field(
        default=None,
        metadata=_about(
            "Currency of every amount of the plan, fixed for all its versions (default: "
            "MODELMINT_CURRENCY)",
            unit="ISO 4217 code",
            range=f"a code from pycountry's list, not {' or '.join(ranges.NOT_MONEY)}",
            column="currency",
            check=_currency,
            example="EUR",
            updatable=False,
            length=(3, 3),
        ),
    )

    @classmethod
    def of(cls, spec: PlanSpec | None, fields: dict[str, Any]) -> PlanSpec:
        """`spec`, or one made of keyword `fields` (the short form of scripts and tests)."""
        if spec is None:
            return cls(**fields)
        if fields:
            raise TypeError(
                f"give a PlanSpec or its fields as keywords, not both: {sorted(fields)}"
            )
        return spec

    def given(self) -> dict[str, Any]:
        """The fields given (not None), in field order."""
        return {f.name: v for f in plan_fields() if (v := getattr(self, f.name)) is not None}

    def columns(self, currency: str) -> dict[str, Any]:
        """The `plans` columns for the fields given, each held to its range (`InvalidInput`
        naming the field otherwise); amounts in `currency`."""
        given = self.given()
        out: dict[str, Any] = {}
        for f in plan_fields():
            if f.name in given:
                out[f.column] = f.check(given[f.name], currency, f.name)
        if out.get("tiers"):
            if "price_per_1k" in given:
                raise InvalidInput(
                    "give the default price either as --price-per-1k or as --tier lines, not both"
                )
            out["price_per_1k_micros"] = out["tiers"][0]["price_per_1k_micros"]  # the headline
        return out


@dataclass(frozen=True)
class PlanField:
    """One PlanSpec field as the CLI, the admin API and the store see it."""

    name: str  # the field, the admin API's JSON name and the Python keyword
    type: Any  # its annotation, e.g. int | None
    meaning: str
    unit: str
    range: str  # from billing.ranges
    column: str  # the `plans` column it is stored in
    check: Check  # value, currency, name -> column value, within the range
    example: str  # a valid value as typed on the command line (one line of a list)
    flag: str  # the CLI option when it is not --name-with-dashes
    clears_to: Any  # what `plans update --unset NAME` stores (_KEEP: not clearable)
    show: Show  # column value, currency -> what plan_public shows
    shown_as: str  # plan_public's name when it is not `name`
    updatable: bool  # False: fixed at creation (currency)
    length: tuple[int, int] | None  # least and most characters, checked by the admin API

    @property
    def option(self) -> str:
        """The CLI option, e.g. --price-per-1k."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def unsettable(self) -> bool:
        return self.clears_to is not _KEEP

    @property
    def help(self) -> str:
        """Meaning, unit and range in one line (--help and the OpenAPI description)."""
        return f"{self.meaning}. Unit: {self.unit}. Range: {self.range}."


@functools.cache
def plan_fields(*, updatable: bool = False) -> tuple[PlanField, ...]:
    """PlanSpec's fields in order; ``updatable``: only those a new version may change."""
    hints = typing.get_type_hints(PlanSpec)
    out = tuple(
        PlanField(name=f.name, type=hints[f.name], **f.metadata["plan"])
        for f in dataclasses.fields(PlanSpec)
    )
    return tuple(f for f in out if f.updatable) if updatable else out


def _field_list() -> str:
    return "\n".join(f"    {f.name} ({f.option}): {f.help}" for f in plan_fields())


PlanSpec.__doc__ = f"{PlanSpec.__doc__}\n\n    Fields:\n\n{_field_list()}\n"

# options `plans update --unset` clears, and what it puts back (none, or zero)
UNSETTABLE: dict[str, tuple[str, Any]] = {
    f.name: (f.column, f.clears_to) for f in plan_fields() if f.unsettable
}
# every column a plan version stores from a PlanSpec
PLAN_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(f.column for f in plan_fields()))


def public_fields(plan: dict[str, Any]) -> dict[str, Any]:
    """A stored plan version's PlanSpec fields as plan_public shows them (money as decimal
    strings), by their public names."""
    currency = plan["currency"]
    return {f.shown_as or f.name: f.show(plan[f.column], currency) for f in plan_fields()}
