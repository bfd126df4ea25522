"""The facts every money report groups: revenue allocated from invoices, and the measured cost
to serve, both at the finest grain (period x tenant x scenario x unit type x model version).

Revenue: each tenant's issued invoice of a period (and its credit notes), or, where none was
issued, its draft: ``draft`` for the open period, ``not issued`` for an ended period that was
not closed yet. Cost: each logged prediction's measured compute time (its share of the batches
it ran in), priced per core-hour and GPU-hour; a shadow challenger's time is the experiment's
cost; the storage of a scenario's models and datasets and the fixed monthly cost are spread over
the calls served, by calls."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from modelmint.billing.core import current_period
from modelmint.billing.invoices import draft_invoice, tax_rate_bp
from modelmint.billing.pricing import period_bounds
from modelmint.insights.allocation import allocate, apportion, by_version, line_weights
from modelmint.insights.periods import Span
from modelmint.settings import Settings
from modelmint.store import Store

MICROS = 1_000_000


@dataclass(frozen=True)
class CostPrices:
    """The cost settings as integer micros of `currency` (see docs/settings.md)."""

    currency: str
    cpu_core_hour: int
    gpu_hour: int
    cores: float
    gpus: float
    storage_gb_month: int
    fixed_monthly: int

    @classmethod
    def of(cls, settings: Settings) -> CostPrices:
        from modelmint.billing import ranges

        cur = ranges.currency_code(settings.cost_currency or settings.currency, "cost currency")

        def money(v: str, name: str) -> int:
            return ranges.money_micros(v, cur, name)

        cores = settings.cost_cores_per_batch or settings.serve_threads or (os.cpu_count() or 1)
        return cls(
            currency=cur,
            cpu_core_hour=money(settings.cost_cpu_core_hour, "MODELMINT_COST_CPU_CORE_HOUR"),
            gpu_hour=money(settings.cost_gpu_hour, "MODELMINT_COST_GPU_HOUR"),
            cores=float(cores),
            gpus=float(settings.cost_gpus_per_batch),
            storage_gb_month=money(
                settings.cost_storage_gb_month, "MODELMINT_COST_STORAGE_GB_MONTH"
            ),
            fixed_monthly=money(settings.cost_fixed_monthly, "MODELMINT_COST_FIXED_MONTHLY"),
        )

    def per_compute_second(self) -> float:
        """Micros one second of a batch costs: its cores and GPUs at their hourly prices."""
        return (self.cores * self.cpu_core_hour + self.gpus * self.gpu_hour) / 3600

    def describe(self) -> dict[str, Any]:
        m = lambda x: str(Decimal(x) / MICROS)  # noqa: E731
        return {
            "currency": self.currency,
            "cpu_core_hour": m(self.cpu_core_hour),
            "gpu_hour": m(self.gpu_hour),
            "cores_per_batch": self.cores,
            "gpus_per_batch": self.gpus,
            "storage_gb_month": m(self.storage_gb_month),
            "fixed_monthly": m(self.fixed_monthly),
        }


@dataclass
class Facts:
    span: Span
    revenue: list[dict[str, Any]] = field(default_factory=list)
    """period, tenant, plan, currency, scenario, unit_type, version, status, micros"""
    cost: list[dict[str, Any]] = field(default_factory=list)
    """period, tenant, plan, currency (the tenant's), scenario, version, kind (serving,
    experiment, storage, fixed), micros (in the cost currency), compute_s, predictions"""
    calls: list[dict[str, Any]] = field(default_factory=list)
    """period, tenant, plan, scenario, unit_type, version, live, calls, units"""
    invoices: list[dict[str, Any]] = field(default_factory=list)
    """per invoice or draft: number, tenant, period, status, currency, total_micros and the sum
    of its allocations (equal, to the micro)"""
    notes: list[str] = field(default_factory=list)


def last_day(period: str) -> str:
    _, end = period_bounds(period)
    return (end - timedelta(days=1)).date().isoformat()


class _Plans:
    """Which plan (name) and currency a tenant was on at the end of a period."""

    def __init__(self, store: Store, tenants: list[dict[str, Any]]) -> None:
        self.history: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in store.insights.plan_changes():
            self.history[r["tenant_id"]].append(r)
        self.fallback = {t["id"]: (t["plan"], t.get("currency")) for t in tenants}

    def at(self, tenant_id: int, period: str) -> tuple[str, str | None]:
        _, end = period_bounds(period)
        rows = [r for r in self.history.get(tenant_id, []) if r["starts_at"] < end]
        rows = rows or self.history.get(tenant_id, [])[:1]
        if rows:
            return rows[-1]["plan"], rows[-1]["currency"]
        return self.fallback[tenant_id]


def collect(
    store: Store,
    settings: Settings,
    span: Span,
    *,
    now: datetime,
    costs: bool = True,
) -> Facts:
    """Revenue, cost and call facts for the billing periods of `span`."""
    facts = Facts(span)
    tenants = store.billing.tenants()
    names = {t["id"]: t["name"] for t in tenants}
    plans = _Plans(store, tenants)
    currency_of = {t["id"]: t.get("currency") for t in tenants}
    open_period = current_period(now)
    units: dict[tuple[int, str, str, str], dict[int | None, int]] = defaultdict(dict)
    for r in store.insights.usage_totals(span.periods):
        plan, cur = plans.at(r["tenant_id"], r["period"])
        facts.calls.append(
            {
                **r,
                "tenant": names.get(r["tenant_id"], "?"),
                "plan": plan,
                "currency": currency_of.get(r["tenant_id"]) or cur,
            }
        )
        if r["live"]:
            k = (r["tenant_id"], r["period"], r["scenario"], r["unit_type"])
            units[k][r["model_version"]] = units[k].get(r["model_version"], 0) + r["units"]
    tax = settings.tax_rate_percent
    tax_rate_bp(tax)  # validated once
    for period in span.periods:
        _, pend = period_bounds(period)
        issued = store.invoices.list(period=period)
        by_tenant = {i["tenant_id"]: i for i in issued if i["kind"] == "invoice"}
        final: dict[str, dict[tuple[str, str], int]] = {}
        docs = []
        for t in tenants:
            if t["created_at"] >= pend:
                continue
            inv = by_tenant.get(t["id"])
            if inv is not None:
                docs.append((t, inv, "issued"))
            else:
                d = draft_invoice(store, t["name"], period=period, tax_rate=tax)
                docs.append((t, d, "draft" if period >= open_period else "not issued"))
        docs += [
            (next(t for t in tenants if t["id"] == c["tenant_id"]), c, "issued")
            for c in issued
            if c["kind"] == "credit_note"
        ]
        for t, inv, status in docs:
            if inv["kind"] == "credit_note":
                weights = final.get(inv["refers_to"] or "", {})
            else:
                weights = line_weights(inv["lines"])
            buckets = allocate(inv["total_micros"], weights)
            if inv["kind"] == "invoice" and inv.get("number"):
                final[inv["number"]] = buckets
            plan, _ = plans.at(t["id"], period)
            allocated = 0
            for (scenario, unit_type), amount in buckets.items():
                split = by_version(amount, units.get((t["id"], period, scenario, unit_type), {}))
                for version, micros in split.items():
                    allocated += micros
                    facts.revenue.append(
                        {
                            "period": period,
                            "tenant": t["name"],
                            "plan": plan,
                            "currency": inv["currency"],
                            "scenario": scenario,
                            "unit_type": unit_type,
                            "version": version,
                            "status": status,
                            "kind": inv["kind"],
                            "micros": micros,
                        }
                    )
            facts.invoices.append(
                {
                    "number": inv.get("number") or "DRAFT",
                    "kind": inv["kind"],
                    "tenant": t["name"],
                    "period": period,
                    "status": status,
                    "currency": inv["currency"],
                    "total_micros": inv["total_micros"],
                    "allocated_micros": allocated,
                }
            )
    if costs:
        _costs(store, settings, facts, plans, names, tenants)
    return facts


def _dir_bytes(path: str | Path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if not p.is_dir():
        return 0
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def storage_bytes(store: Store) -> dict[tuple[str, int | None], int]:
    """Bytes on disk per (scenario, version): each version's model directory, and the dataset
    versions the scenario's models were trained on under version None."""
    out: dict[tuple[str, int | None], int] = defaultdict(int)
    used: dict[str, set[int]] = defaultdict(set)
    for m in store.models.list():
        out[(m["name"], m["version"])] += _dir_bytes(m["path"])
        used[m["name"]].add(m["dataset_id"])
    paths = {d["id"]: d["path"] for d in store.datasets.list()}
    for scenario, ids in used.items():
        out[(scenario, None)] += sum(_dir_bytes(paths[i]) for i in ids if i in paths)
    return dict(out)


def _costs(
    store: Store,
    settings: Settings,
    facts: Facts,
    plans: _Plans,
    names: dict[int, str],
    tenants: list[dict[str, Any]],
) -> None:
    prices = CostPrices.of(settings)
    per_s = prices.per_compute_second()
    currency_of = {t["id"]: t.get("currency") for t in tenants}

    def row(period: str, tid: int | None, scenario: str, version: Any, kind: str) -> dict:
        plan, cur = plans.at(tid, period) if tid is not None else ("(shared)", None)
        return {
            "period": period,
            "tenant": names.get(tid, "(shared)") if tid is not None else "(shared)",
            "tenant_currency": currency_of.get(tid) or cur if tid is not None else None,
            "plan": plan,
            "scenario": scenario,
            "version": version,
            "kind": kind,
            "micros": 0,
            "compute_s": 0.0,
            "predictions": 0,
            "measured": 0,
        }

    sizes = storage_bytes(store) if prices.storage_gb_month else {}
    for period in facts.span.periods:
        ps, pe = period_bounds(period)
        start, end = max(ps, facts.span.start), min(pe, facts.span.end)
        share = (end - start).total_seconds() / (pe - ps).total_seconds()
        for r in store.insights.compute_totals(start, end):
            f = row(
                period,
                r["tenant_id"],
                r["scenario"],
                r["model_version"],
                "experiment" if r["shadow"] else "serving",
            )
            seconds = r["compute_ms"] / 1000
            f.update(
                micros=int(seconds * per_s + 0.5),
                compute_s=seconds,
                predictions=r["predictions"],
                measured=r["measured"],
            )
            facts.cost.append(f)
        # shared costs, spread by the calls each (tenant, scenario, version) made in the period
        calls = [c for c in facts.calls if c["period"] == period]
        by_key: dict[tuple[int, str, Any], int] = defaultdict(int)
        for c in calls:
            by_key[(c["tenant_id"], c["scenario"], c["model_version"])] += c["calls"]
        gb = Decimal(1) / Decimal(1024**3)
        for scenario in sorted({s for s, _ in sizes}):
            size = sum(v for (s, _), v in sizes.items() if s == scenario)
            micros = int(
                Decimal(size) * gb * prices.storage_gb_month * Decimal(share) + Decimal("0.5")
            )
            _spread(facts, row, period, "storage", scenario, micros, by_key)
        fixed = int(prices.fixed_monthly * share + 0.5)
        _spread(facts, row, period, "fixed", None, fixed, by_key)
    if not prices.cpu_core_hour and not prices.gpu_hour:
        facts.notes.append(
            "no compute price is set: costs show the measured compute seconds with no money; "
            "set MODELMINT_COST_CPU_CORE_HOUR (and MODELMINT_COST_GPU_HOUR) to price them"
        )


def _spread(
    facts: Facts,
    row: Any,
    period: str,
    kind: str,
    scenario: str | None,
    micros: int,
    by_key: dict[tuple[int, str, Any], int],
) -> None:
    if micros <= 0:
        return
    keys = sorted(
        (k for k in by_key if scenario is None or k[1] == scenario),
        key=lambda k: (k[0], k[1], k[2] is None, k[2] or 0),
    )
    if not keys or not sum(by_key[k] for k in keys):
        f = row(period, None, scenario or "(unallocated)", None, kind)
        f["micros"] = micros
        facts.cost.append(f)
        return
    for k, part in zip(keys, apportion(micros, [by_key[k] for k in keys]), strict=True):
        if part:
            f = row(period, k[0], k[1], k[2], kind)
            f["micros"] = part
            facts.cost.append(f)
