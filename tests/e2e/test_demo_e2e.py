"""The demo flow end to end, as a user runs it (a real server process, real HTTP traffic), checked
on the values its steps return rather than on what it prints."""

from __future__ import annotations

import os

import pytest

from modelmint.cli._common import console
from modelmint.cli.demo import DemoResult, run_demo

SCENARIO = "review-sentiment"
ACCURACY_FLOOR = 0.75  # frozen e5 + logistic head on ~280 training reviews; pos/neg is ~55/45
TRAFFIC = 250  # more calls than the plan includes, so some are billed


@pytest.mark.slow
def test_demo_runs_the_whole_loop_on_a_small_sample(tmp_path, monkeypatch, capsys):
    for name in [k for k in os.environ if k.startswith("MODELMINT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(console, "width", 200)  # one table row per line in the output check
    home = tmp_path / "demo"

    result = run_demo(home, sample=400, traffic=TRAFFIC, feedback_share=0.6, seed=0)

    _check_data(result)
    _check_models(result)
    _check_traffic_and_what_the_server_recorded(result)
    _check_the_loop(result)
    _check_usage_and_invoice(result)
    _check_business(result)
    _check_simulated_figures_are_labelled(capsys.readouterr().out)
    assert result.seconds < 600  # the demo's promise: under 10 minutes on 2 cores


def _check_data(result: DemoResult) -> None:
    r, d = result.reviews, result.dataset
    assert r.loaded == 35_123 and abs(len(r.sample) - 400) <= 1
    assert not {x["text"] for x in r.sample} & {x["text"] for x in r.held_out}
    assert d.ref.ref == f"{SCENARIO}:1"
    assert sum(d.split_counts.values()) == d.ref.n_rows <= len(r.sample)
    assert 0 < d.split_counts["test"] < d.split_counts["train"]
    assert 0 <= d.label_issues["count"] <= d.ref.n_rows
    assert d.report_path.is_file()


def _check_models(result: DemoResult) -> None:
    trained, ev = result.trained, result.evaluated
    assert trained.ref == f"{SCENARIO}:1" and trained.path.is_dir()
    assert trained.cache_hits > 0  # the audit's embeddings are reused by training
    assert ev.accuracy >= ACCURACY_FLOOR, ev.report
    assert ev.report.n == result.dataset.split_counts["test"]
    assert ev.html_path is not None and ev.html_path.is_file()
    assert result.promoted.ref == f"{SCENARIO}:1"
    rt = result.retrained
    assert rt.candidate == f"{SCENARIO}:2"  # version 2 registered from the feedback
    assert rt.production == (f"{SCENARIO}:2" if rt.promoted else f"{SCENARIO}:1")
    assert rt.now_serving == rt.production  # the running server followed the gate
    models = {m.ref: m for m in result.summary.models}
    assert list(models) == [f"{SCENARIO}:1", f"{SCENARIO}:2"]
    ch = result.challenged
    assert "production" in models[ch.production].aliases
    assert models[f"{SCENARIO}:1"].test_accuracy == pytest.approx(ev.accuracy)


def _check_traffic_and_what_the_server_recorded(result: DemoResult) -> None:
    t, s, load = result.traffic, result.summary, result.load
    assert t.calls == TRAFFIC == len(t.latencies_ms)
    assert 0 < t.feedback < t.calls and 0 < t.outcomes < t.calls
    assert t.matched / t.calls >= ACCURACY_FLOOR - 0.1
    ch = result.challenged
    assert s.feedback == t.feedback + ch.feedback and s.outcomes == t.outcomes + ch.outcomes
    assert result.retrained.result.curation["feedback"] == t.feedback
    assert load.failed == 0 and load.ok > 0
    # every call is one logged prediction, plus the shadow's own rows (logged, never billed)
    assert s.predictions == result.acme_calls + load.ok + ch.shadow_rows
    assert sum(c.predictions for c in s.conversion) == s.predictions
    assert sum(c.outcomes for c in s.conversion) == s.outcomes


def _check_the_loop(result: DemoResult) -> None:
    w, ch = result.watched, result.challenged
    assert w.calm["input_drift"]["state"] == "ok"  # ordinary reviews: no drift
    assert w.shifted["input_drift"]["state"] == "alert"  # the simulated English traffic
    assert w.embedding_auc is not None and w.embedding_auc > 0.9
    assert {a["signal"] for a in w.alerts} >= {"input_drift"}
    before = f"{SCENARIO}:2" if result.retrained.promoted else f"{SCENARIO}:1"
    other = f"{SCENARIO}:1" if result.retrained.promoted else f"{SCENARIO}:2"
    assert ch.challenger == other and ch.shadow_rows >= ch.shadow["shadow"]["pairs"] > 0
    assert ch.shadow["shadow"]["labelled"] == ch.feedback
    rate = ch.split["rate"]
    assert rate["production"]["calls"] + rate["challenger"]["calls"] > 0
    assert ch.split["verdict"]["reason"]
    assert "quality" in ch.gate and "business" in ch.gate and ch.gate["reason"]
    assert ch.production == (ch.challenger if ch.gate["promote"] else before)


def _check_usage_and_invoice(result: DemoResult) -> None:
    from modelmint.billing import amount_for, usage_summary
    from modelmint.settings import load_settings
    from modelmint.store import open_store

    s, shop = result.summary, result.shop
    # the meter counted each call acme made once: from the API, and from the store's rows
    assert s.usage_units == result.acme_calls
    store = open_store(load_settings(home=result.home).sqlalchemy_url)
    try:
        [usage] = usage_summary(store, tenant=shop.tenant)
    finally:
        store.close()
    assert usage["requests"] == usage["total_units"] == result.acme_calls
    assert usage["amount_due_micros"] == s.amount_due_micros
    # the invoice prices that usage at the plan's rate, and its total is its lines
    inv = s.invoice
    [line] = [x for x in inv["lines"] if x["kind"] == "usage"]
    assert line["quantity"] == result.acme_calls
    assert line["included_units"] + line["billable_units"] == line["quantity"]
    assert line["billable_units"] > 0  # more calls than the (prorated) 200 included
    assert line["amount_micros"] == amount_for(line["billable_units"], shop.price_per_1k_micros)
    subtotal = sum(x["amount_micros"] for x in inv["lines"])
    assert s.amount_due_micros == subtotal  # no discount on the demo tenant
    assert inv["total_micros"] >= subtotal > line["amount_micros"]  # + the prorated fee, + tax
    assert "simulated" in s.invoice_page.read_text(encoding="utf-8")


def _check_simulated_figures_are_labelled(out: str) -> None:
    lines = out.splitlines()
    for word in ("conversion", "feedback received", "outcomes received", "owes", "usage this"):
        rows = [x for x in lines if word in x]
        assert rows, word
        assert all("simulated" in x for x in rows), rows
    [traffic] = [x for x in lines if "predictions served" in x]
    assert traffic.startswith("simulated traffic:"), traffic


def test_the_cli_passes_its_options_to_run_demo(tmp_path, monkeypatch):
    from modelmint.cli import main

    seen = {}
    monkeypatch.setattr(
        "modelmint.cli.demo.run_demo", lambda home, **kw: seen.update(home=home, **kw)
    )
    argv = ["demo", "--home", str(tmp_path / "d"), "--sample", "400", "--traffic", "60"]
    assert main([*argv, "--feedback-share", "0.5", "--seed", "3"]) == 0
    assert seen == {
        "home": (tmp_path / "d").resolve(),
        "sample": 400,
        "traffic": 60,
        "feedback_share": 0.5,
        "seed": 3,
    }


def _check_business(result: DemoResult) -> None:
    b = result.business
    docs = b.revenue["invoices"]
    assert all(d["status"] == "draft" for d in docs) and len(docs) >= 1 + b.prospects
    assert all(d["allocated_micros"] == d["total_micros"] for d in docs)
    assert sum(r["revenue_micros"] for r in b.revenue["rows"]) == sum(
        d["total_micros"] for d in docs
    )
    acme = next(d for d in docs if d["tenant"] == result.shop.tenant)
    assert acme["total_micros"] == result.summary.invoice["total_micros"]
    costs = {r["version"]: r for r in b.costs["rows"]}
    assert costs[f"{SCENARIO}:1"]["compute_seconds"] > 0
    assert costs[f"{SCENARIO}:1"]["measured_share"] == 1.0  # every call's compute was measured
    assert costs[f"{SCENARIO}:1"]["per_1k_calls_micros"] > 0
    trial = next(r for r in b.funnel["rows"] if r["plan"] == "trial-14")
    assert (trial["created"], trial["first_call"], trial["active"], trial["paid"]) == (5, 3, 2, 0)
    versions = {r["version"]: r for r in b.versions["rows"]}
    assert set(versions) == {1, 2}
    assert all("converted" in r["outcomes"] for r in versions.values())
    assert b.report.is_file() and "<svg" in b.report.read_text()
    ranking = b.scout["ranking"]
    assert [r["rank"] for r in ranking] == [1, 2, 3] and all(r["reason"] for r in ranking)
    assert {r["name"] for r in ranking} == {"review-sentiment", "house-price", "credit-risk"}
    assert b.scout_report.is_file()
