"""An invoice's total allocated to what earned it, exactly to the micro-unit.

1. Each line's amount goes to a (scenario, unit type) bucket: a usage line to its own; tier
   lines to the tiered usage lines before them, by billable units; a subscription fee to every
   usage line of the invoice, by units (no usage: the bucket ``(subscription)``); trial lines
   are 0. A credit note follows the invoice it refers to, in that invoice's proportions.
2. The invoice's total (after discount and tax) is apportioned over the buckets in proportion
   to step 1, by largest remainder, so the buckets sum to the total exactly.
3. A bucket is split between model versions by the units each version served (the caller
   passes them), again by largest remainder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Bucket = tuple[str, str]  # (scenario, unit_type)
NO_USAGE: Bucket = ("(subscription)", "-")


def apportion(total: int, weights: Sequence[int | float]) -> list[int]:
    """`total` split in proportion to non-negative `weights` (Hamilton's largest remainder):
    integers that sum to `total` exactly. All-zero weights: equal shares."""
    n = len(weights)
    if n == 0:
        return []
    if total < 0:
        return [-x for x in apportion(-total, weights)]
    w = [max(float(x), 0.0) for x in weights]
    s = sum(w)
    if s <= 0:
        w, s = [1.0] * n, float(n)
    if all(float(x).is_integer() for x in w):  # exact in integers where the weights are
        iw = [int(x) for x in w]
        si = sum(iw)
        base = [total * x // si for x in iw]
        rem = [total * x - b * si for x, b in zip(iw, base, strict=True)]
    else:
        raw = [total * x / s for x in w]
        base = [int(r) for r in raw]
        rem = [r - b for r, b in zip(raw, base, strict=True)]
    left = total - sum(base)
    for i in sorted(range(n), key=lambda i: (-rem[i], i))[:left]:
        base[i] += 1
    return base


def line_weights(lines: Sequence[Mapping[str, Any]]) -> dict[Bucket, int]:
    """Step 1: each line's amount moved to its (scenario, unit_type) bucket, in micros."""
    out: dict[Bucket, int] = {}
    usage = [ln for ln in lines if ln.get("kind") == "usage"]
    tiered: list[Mapping[str, Any]] = []  # tiered usage lines waiting for their tier lines
    after_tier = False
    fees = 0
    for ln in lines:
        kind = ln.get("kind")
        amount = int(ln.get("amount_micros", 0))
        if kind == "usage":
            if after_tier:
                tiered, after_tier = [], False
            b = (ln["scenario"], ln["unit_type"])
            out[b] = out.get(b, 0) + amount
            if ln.get("tiered"):
                tiered.append(ln)
        elif kind == "tier":
            after_tier = True
            targets = tiered or usage
            shares = apportion(amount, [int(x.get("billable_units", 0)) for x in targets])
            for x, share in zip(targets, shares, strict=True):
                b = (x["scenario"], x["unit_type"])
                out[b] = out.get(b, 0) + share
        elif kind == "trial":
            b = (ln["scenario"], ln["unit_type"])
            out.setdefault(b, 0)
        else:  # subscription (or any line that is not usage): shared by all usage
            fees += amount
    if fees:
        if usage:
            for x, share in zip(
                usage, apportion(fees, [int(x.get("quantity", 0)) for x in usage]), strict=True
            ):
                b = (x["scenario"], x["unit_type"])
                out[b] = out.get(b, 0) + share
        else:
            out[NO_USAGE] = out.get(NO_USAGE, 0) + fees
    return out


def allocate(total: int, weights: Mapping[Bucket, int]) -> dict[Bucket, int]:
    """Step 2: the total apportioned over the buckets by their step-1 amounts."""
    if not weights:
        return {NO_USAGE: total} if total else {}
    keys = sorted(weights)
    return dict(zip(keys, apportion(total, [weights[k] for k in keys]), strict=True))


def by_version(amount: int, units: Mapping[int | None, int]) -> dict[int | None, int]:
    """Step 3: a bucket's amount split between versions by the units each served."""
    if not units:
        return {None: amount}
    keys = sorted(units, key=lambda v: (v is None, v or 0))
    return dict(zip(keys, apportion(amount, [units[k] for k in keys]), strict=True))
