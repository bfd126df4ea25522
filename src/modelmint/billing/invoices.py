"""Invoices: close a billing period per tenant into an immutable invoice; corrections are credit
notes. Money in integer micro-units throughout; every rounding is half up, and written down in
docs/billing.md."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from modelmint.billing import ranges
from modelmint.billing.core import current_period, percent_bp, validate_period
from modelmint.billing.pricing import Pricing, charge_segment, period_bounds, segments
from modelmint.errors import Conflict, InvalidInput
from modelmint.store import Store, new_id
from modelmint.types import Money

# the fields of `modelmint invoices export`, documented in docs/billing.md
EXPORT_FIELDS = (
    "number",
    "kind",
    "refers_to",
    "tenant",
    "contact_email",
    "period",
    "currency",
    "line",
    "description",
    "scenario",
    "unit_type",
    "quantity",
    "line_kind",
    "included_units",
    "billable_units",
    "unit_price_per_1k",
    "line_amount",
    "subtotal",
    "discount",
    "tax_rate_percent",
    "tax",
    "total",
    "issued_at",
)


MAX_STORED = 2**63 - 1  # the largest amount an invoice row holds, in micro-units


def tax_rate_bp(percent: str) -> int:
    return percent_bp(percent, "tax rate")


def _share(amount: int, bp: int) -> int:
    """amount x bp / 10,000, rounded half up (amounts here are >= 0)."""
    return (amount * bp + 5000) // 10000


def _draft(store: Store, tenant: dict[str, Any], period: str, tax_bp: int) -> dict[str, Any]:
    plan = store.billing.plan_by_id(tenant["plan_id"])
    history = store.billing.plan_history(tenant["id"]) or [
        {"plan_id": tenant["plan_id"], "starts_at": tenant["created_at"]}
    ]
    plans = {pid: store.billing.plan_by_id(pid) for pid in {h["plan_id"] for h in history}}
    segs = segments(history, plans, period, tenant.get("trial_ends_at"))
    several = len({(s.plan["id"], s.trial) for s in segs}) > 1
    lines = []
    for i, seg in enumerate(segs):
        # usage is assigned by time between segments; outside them it goes to the first or last
        usage = store.billing.usage_by_scenario(
            period,
            tenant["id"],
            start=seg.start if i > 0 else None,
            end=seg.end if i < len(segs) - 1 else None,
        )
        lines += charge_segment(seg, usage, period, several)
    subtotal = sum(line["amount_micros"] for line in lines)
    discount = _share(subtotal, tenant["discount_bp"])
    tax = _share(subtotal - discount, tax_bp)
    names = dict.fromkeys(f"{s.plan['name']} v{s.plan['version']}" for s in segs)
    return {
        "kind": "invoice",
        "tenant_id": tenant["id"],
        "period": period,
        "currency": plan["currency"],
        "refers_to": None,
        "lines": lines,
        "subtotal_micros": subtotal,
        "discount_micros": discount,
        "tax_rate_bp": tax_bp,
        "tax_micros": tax,
        "total_micros": subtotal - discount + tax,
        "note": "plan " + ", then ".join(names or [f"{plan['name']} v{plan['version']}"]),
    }


def draft_invoice(
    store: Store, tenant: str, *, period: str | None = None, tax_rate: str = "0"
) -> dict[str, Any]:
    """The invoice the period would get, not issued (the period may still be open)."""
    period = validate_period(period or current_period())
    draft = _draft(store, store.billing.tenant(tenant), period, tax_rate_bp(tax_rate))
    return {**draft, "number": "DRAFT", "issued_at": None}


def preview(store: Store, tenant: str, *, period: str | None = None, tax_rate: str = "0") -> dict:
    """draft_invoice in the public shape."""
    return public(draft_invoice(store, tenant, period=period, tax_rate=tax_rate), tenant)


def close_period(
    store: Store,
    period: str,
    *,
    tenant: str | None = None,
    tax_rate: str = "0",
    now: datetime | None = None,
) -> list[tuple[dict[str, Any], bool]]:
    """Issue one invoice per tenant (or for `tenant`) for a period that has ended. Closing again
    returns the invoices already issued: (invoice, created) pairs. A period that ended before
    the tenant (or, without `tenant`, every tenant) was created is refused; without `tenant`,
    only the tenants that existed before the period's end get an invoice."""
    period = validate_period(period)
    if period >= current_period(now):
        raise InvalidInput(
            f"period {period} has not ended yet; close it from the 1st of the next month, or "
            "look at the running total with `modelmint invoices preview --tenant NAME`"
        )
    tax_bp = tax_rate_bp(tax_rate)
    tenants = [store.billing.tenant(tenant)] if tenant else store.billing.tenants()
    _, end = period_bounds(period)
    existed = [t for t in tenants if t["created_at"] < end]
    if tenants and not existed:
        first = min(tenants, key=lambda t: t["created_at"])
        since = current_period(first["created_at"])
        who = f"tenant {first['name']} was" if tenant else f"the first tenant ({first['name']}) was"
        raise InvalidInput(
            f"period {period} ended before {who} created (in {since}), so nothing is owed for "
            f"it; close a month from {since} on, once it has ended"
        )
    tenants = existed
    out = []
    issued: list[tuple[str, str, Any, Any]] = []
    for t in tenants:
        draft = _draft(store, t, period, tax_bp)
        if max(abs(draft[k]) for k in ("subtotal_micros", "total_micros")) > MAX_STORED:
            raise InvalidInput(
                f"tenant {t['name']}'s invoice for {period} would exceed 9.2 trillion "
                f"{draft['currency']}, more than an invoice can hold; check the plan's prices"
            )
        values = {
            **draft,
            "id": new_id(),
            "number": f"INV-{period}-{{seq:06d}}",
            "issued_at": now or datetime.now(UTC),
            "dedupe": f"invoice:{t['id']}:{period}",
        }
        inv, created = store.invoices.issue(values)
        if created:
            issued.append(
                (
                    "invoice.issue",
                    f"tenant:{t['name']}/invoice:{inv['number']}",
                    None,
                    _audited(inv),
                )
            )
        out.append((inv, created))
    store.audit.record_many(issued)  # one transaction for the whole run
    return out


def credit_note(
    store: Store, number: str, *, amount: str, reason: str, now: datetime | None = None
) -> dict[str, Any]:
    """A credit note against an issued invoice, for `amount` including tax (split at the
    invoice's tax rate). Credits on one invoice never exceed its total."""
    inv = store.invoices.get(number)
    if inv["kind"] != "invoice":
        raise InvalidInput(f"{number} is a credit note; credit the invoice it refers to")
    if not reason.strip():
        raise InvalidInput("say why with --reason; it is printed on the credit note")
    gross = ranges.money_micros(amount, inv["currency"], "amount", positive=True)
    earlier = [c for c in store.invoices.list(inv["tenant_id"]) if c["refers_to"] == number]
    left = inv["total_micros"] + sum(c["total_micros"] for c in earlier)
    if gross > left:
        raise Conflict(
            f"{number} has {Money(left, inv['currency']).decimal_str()} {inv['currency']} left "
            "to credit; credit at most that"
        )
    bp = inv["tax_rate_bp"]
    net = (gross * 10000 + (10000 + bp) // 2) // (10000 + bp)
    values = {
        "id": new_id(),
        "number": f"CN-{inv['period']}-{{seq:06d}}",
        "kind": "credit_note",
        "tenant_id": inv["tenant_id"],
        "period": inv["period"],
        "currency": inv["currency"],
        "refers_to": number,
        "lines": [{"description": reason.strip(), "quantity": 1, "amount_micros": -net}],
        "subtotal_micros": -net,
        "discount_micros": 0,
        "tax_rate_bp": bp,
        "tax_micros": -(gross - net),
        "total_micros": -gross,
        "note": reason.strip(),
        "issued_at": now or datetime.now(UTC),
        "dedupe": f"credit:{number}:{len(earlier) + 1}",
    }
    created, new = store.invoices.issue(values)
    if new:
        store.audit.record(
            "credit_note.issue",
            f"tenant:{store.billing.tenant_name(inv['tenant_id'])}/invoice:{number}",
            after=_audited(created),
        )
    return created


def _audited(doc: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of an invoice or credit note: its identity and totals."""
    keys = (
        "number",
        "kind",
        "period",
        "currency",
        "refers_to",
        "total_micros",
        "tax_micros",
        "note",
    )
    return {k: doc.get(k) for k in keys if k in doc}


def _m(micros: int, currency: str) -> str:
    return Money(micros, currency).decimal_str()


def public(inv: dict[str, Any], tenant: str) -> dict[str, Any]:
    """What the CLI's --json and GET /v1/invoices show: decimal strings and integer micros."""
    cur = inv["currency"]
    return {
        "number": inv["number"],
        "kind": inv["kind"],
        "refers_to": inv["refers_to"],
        "tenant": tenant,
        "period": inv["period"],
        "currency": cur,
        "lines": [
            {
                **{k: v for k, v in line.items() if not k.endswith("_micros")},
                **(
                    {"unit_price_per_1k": _m(line["unit_price_per_1k_micros"], cur)}
                    if "unit_price_per_1k_micros" in line
                    else {}
                ),
                "amount": _m(line["amount_micros"], cur),
                "amount_micros": line["amount_micros"],
            }
            for line in inv["lines"]
        ],
        "subtotal": _m(inv["subtotal_micros"], cur),
        "discount": _m(inv["discount_micros"], cur),
        "tax_rate_percent": str(Decimal(inv["tax_rate_bp"]) / 100),
        "tax": _m(inv["tax_micros"], cur),
        "total": _m(inv["total_micros"], cur),
        "total_micros": inv["total_micros"],
        "note": inv["note"],
        "issued_at": inv["issued_at"].isoformat() if inv["issued_at"] else None,
    }


def export_rows(inv: dict[str, Any], tenant: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per line, with the invoice's totals repeated: EXPORT_FIELDS."""
    p = public(inv, tenant["name"])
    return [
        {
            "number": p["number"],
            "kind": p["kind"],
            "refers_to": p["refers_to"] or "",
            "tenant": tenant["name"],
            "contact_email": tenant.get("contact_email") or "",
            "period": p["period"],
            "currency": p["currency"],
            "line": i,
            "description": line["description"],
            "scenario": line.get("scenario", ""),
            "unit_type": line.get("unit_type", ""),
            "quantity": line.get("quantity", ""),
            "line_kind": line.get("kind", "credit" if p["kind"] == "credit_note" else "usage"),
            "included_units": line.get("included_units", ""),
            "billable_units": line.get("billable_units", ""),
            "unit_price_per_1k": line.get(
                "unit_price_per_1k", "tiered" if line.get("tiered") else ""
            ),
            "line_amount": line["amount"],
            "subtotal": p["subtotal"],
            "discount": p["discount"],
            "tax_rate_percent": p["tax_rate_percent"],
            "tax": p["tax"],
            "total": p["total"],
            "issued_at": p["issued_at"] or "",
        }
        for i, line in enumerate(p["lines"], 1)
    ] or [
        {
            **{k: "" for k in EXPORT_FIELDS},
            "number": p["number"],
            "kind": p["kind"],
            "tenant": tenant["name"],
            "period": p["period"],
            "currency": p["currency"],
            "subtotal": p["subtotal"],
            "total": p["total"],
            "issued_at": p["issued_at"] or "",
        }
    ]


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EXPORT_FIELDS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _units(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else ""


def to_html(inv: dict[str, Any], tenant: dict[str, Any]) -> str:
    """A printable invoice (A4, no external assets)."""
    p = public(inv, tenant["name"])
    e = html.escape
    title = "Credit note" if p["kind"] == "credit_note" else "Invoice"
    rows = (
        "".join(
            f"<tr><td>{e(str(line['description']))}</td><td class=n>{_units(line.get('quantity'))}"
            f"</td><td class=n>{_units(line.get('included_units') or None)}</td>"
            f"<td class=n>{e(str(line.get('unit_price_per_1k', 'see tiers' if line.get('tiered') else '')))}</td>"
            f"<td class=n>{e(line['amount'])}</td></tr>"
            for line in p["lines"]
        )
        or "<tr><td colspan=5>No usage in this period.</td></tr>"
    )
    refers = f"<p>Credits invoice {e(p['refers_to'])}.</p>" if p["refers_to"] else ""
    issued = f"issued {p['issued_at'][:10]}" if p["issued_at"] else "draft, not issued"
    discount = f"-{p['discount']}" if inv["discount_micros"] else p["discount"]
    contact = e(tenant.get("contact_name") or "") + (
        f" &lt;{e(tenant['contact_email'])}&gt;" if tenant.get("contact_email") else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} {e(p["number"])}</title>
<style>
@page {{ size: A4; margin: 18mm; }}
body {{ font: 14px/1.45 system-ui, sans-serif; color: #111; max-width: 800px; margin: 2em auto; }}
h1 {{ font-size: 22px; margin: 0 0 .2em; }} table {{ width: 100%; border-collapse: collapse; }}
th, td {{ padding: 6px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.totals td {{ border: 0; }} .grand td {{ font-weight: 700; border-top: 2px solid #111; }}
.meta {{ color: #444; }}
</style></head><body>
<h1>{title} {e(p["number"])}</h1>
<p class="meta">Billed to <b>{e(p["tenant"])}</b> {contact}<br>
Period {e(p["period"])} · {e(issued)} · {e(p["currency"])}</p>
{refers}
<table><thead><tr><th>Item</th><th class=n>Units</th><th class=n>Included</th>
<th class=n>Price per 1,000</th><th class=n>Amount</th></tr></thead><tbody>{rows}</tbody>
<tbody class="totals">
<tr><td colspan=4 class=n>Subtotal</td><td class=n>{e(p["subtotal"])}</td></tr>
<tr><td colspan=4 class=n>Discount</td><td class=n>{e(discount)}</td></tr>
<tr><td colspan=4 class=n>Tax ({e(p["tax_rate_percent"])}%)</td><td class=n>{e(p["tax"])}</td></tr>
<tr class="grand"><td colspan=4 class=n>Total {e(p["currency"])}</td>
<td class=n>{e(p["total"])}</td></tr></tbody></table>
<p class="meta">{e(p["note"] or "")}</p>
</body></html>
"""


# usage -----------------------------------------------------------------------------------------
def usage_summary(
    store: Store, *, period: str | None = None, tenant: str | None = None
) -> list[dict]:
    """Per tenant: units, requests and the amount owed so far in `period` (the draft invoice's
    subtotal less discount, before tax)."""
    period = validate_period(period or current_period())
    tenants = [store.billing.tenant(tenant)] if tenant is not None else store.billing.tenants()
    one = tenants[0]["id"] if tenant is not None else None  # read one tenant's rows only
    rows = store.billing.usage_by_scenario(period, one)
    test_rows = store.billing.usage_by_scenario(period, one, live=False)
    out = []
    for t in tenants:
        plan = store.billing.plan_by_id(t["plan_id"])
        mine = [r for r in rows if r["tenant_id"] == t["id"]]
        draft = _draft(store, t, period, 0)
        due = Money(draft["subtotal_micros"] - draft["discount_micros"], plan["currency"])
        out.append(
            {
                "tenant": t["name"],
                "plan": plan["name"],
                "plan_version": plan["version"],
                "status": t["status"],
                "trial_ends_at": t["trial_ends_at"].isoformat() if t["trial_ends_at"] else None,
                "period": period,
                "total_units": sum(r["units"] for r in mine),
                "requests": sum(r["requests"] for r in mine),
                "quota": plan["monthly_quota"],
                "included_units": plan["included_units"],
                "price_per_1k": Money(plan["price_per_1k_micros"], plan["currency"]).decimal_str(),
                "pricing": Pricing.of(plan).describe(),
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
