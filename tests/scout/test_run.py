"""A scout run on small real data: the learnable cheap scenario beats the unlearnable expensive
one, the pilots stay out of the registry until `promote`, the report's JSON and HTML."""

from __future__ import annotations

import json

import pytest
from tests.scout.conftest import FakeClock

from modelmint.pipeline import load_pilot, promote_pilot, run_scout
from modelmint.scout import render_html


@pytest.fixture
def report(ws, scenarios):
    seen: list[tuple[str, int, int]] = []
    out = run_scout(
        ws,
        scenarios,
        budget="2m",
        quick=True,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
        clock=FakeClock(),
    )
    out.progress_seen = seen  # type: ignore[attr-defined]
    return out


def test_learnable_cheap_beats_unlearnable_expensive(report):
    first, second = report.ranking
    assert first.name == "clear-reviews" and second.name == "random-labels"
    assert first.pilot.learnable and not second.pilot.learnable
    # the unlearnable one charges 5x the price: revenue alone would have put it first
    assert second.economics.revenue == 5 * first.economics.revenue
    assert first.pilot.low > first.pilot.baseline
    assert second.pilot.low <= second.pilot.baseline
    assert "not learnable" in second.reason
    assert "does not beat always answering" in second.reason
    assert first.reason.startswith("ranked 1st: the highest margin")
    # progress for every candidate, ending complete
    stages = {s for s, _, _ in report.progress_seen}
    assert {"clear-reviews", "random-labels"} <= stages
    last = [(d, t) for s, d, t in report.progress_seen if s == "clear-reviews"][-1]
    assert last[0] == last[1]


def test_pilot_measures_what_it_says(report):
    p = report.ranking[0].pilot
    assert p.rows_in_file == p.rows_used == 120
    assert p.audit["rows"] == 120 and p.audit["classes"] == 2
    assert p.audit["suspected_label_errors"] is not None
    assert [c.fraction for c in p.curve] == [0.25, 0.5, 1.0]
    assert [c.rows for c in p.curve] == [30, 60, 120]
    assert all(c.low <= c.quality <= c.high for c in p.curve)
    assert p.folds == 3 and not p.notes
    assert p.serving_inputs >= 2 * p.serving_batch and p.serving_cpu_s_per_1k > 0
    assert p.train_cpu_s > 0


def test_pilots_never_touch_the_registry_until_promoted(ws, report):
    assert ws.store.datasets.list() == [] and ws.store.models.list() == []
    for name in ("clear-reviews", "random-labels"):
        assert load_pilot(ws, name)["name"] == name
    scout = ws.settings.home / "scout"
    assert not [p for p in scout.iterdir() if p.name.startswith(".run-")]  # scratch removed
    assert not (ws.settings.models_dir / "clear-reviews").exists()

    out = promote_pilot(ws, "clear-reviews")
    assert out.model.ref == "clear-reviews:1"
    assert [d["name"] for d in ws.store.datasets.list()] == ["clear-reviews"]
    assert [m["name"] for m in ws.store.models.list()] == ["clear-reviews"]
    assert out.dataset.n_rows == 120 and out.dataset.task == "text-classification"
    assert out.report.n > 0  # evaluated on its frozen test split, as `modelmint train` does


def test_promote_unknown_pilot_names_the_fix(ws, report):
    from modelmint.errors import NotFound

    with pytest.raises(
        NotFound, match=r"no pilot named 'nope'; pilots: clear-reviews, random-labels"
    ):
        promote_pilot(ws, "nope")


def test_json_shape(report, ws):
    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) == {"source", "currency", "budget_s", "quick", "seconds", "notes", "ranking"}
    assert d["currency"] == "CNY" and d["quick"] is True and d["budget_s"] == 120
    r = d["ranking"][0]
    assert set(r) == {
        "rank",
        "name",
        "task",
        "learnable",
        "reason",
        "risks",
        "pilot",
        "economics",
        "shown",
    }
    assert r["rank"] == 1 and r["task"] == "text-classification"
    assert {"quality", "low", "high", "baseline", "curve", "serving_cpu_s_per_1k", "audit"} <= set(
        r["pilot"]
    )
    assert {
        "revenue",
        "serving_cost",
        "error_cost",
        "value",
        "margin",
        "margin_expected",
        "margin_optimistic",
        "payback_months",
        "one_off",
        "forecast",
    } <= set(r["economics"])
    assert isinstance(r["economics"]["margin"], int)  # micro-units, never a float
    assert r["shown"]["revenue"] == "16,000.00 CNY"
    kept = json.loads((ws.settings.home / "scout" / "last-run.json").read_text())
    assert [x["name"] for x in kept["ranking"]] == ["clear-reviews", "random-labels"]


def test_html_has_the_charts(report):
    page = render_html(report)
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2
    assert "Expected monthly margin" in page and "Learning curves" in page
    assert "<script src" not in page and "<link" not in page
    assert "not learnable" in page


def test_a_pilot_cut_short_says_so(ws, scenarios):
    # every clock reading moves 5 s on: the budget runs out after the first full-size fold
    out = run_scout(ws, scenarios, budget="45s", quick=True, clock=FakeClock(step=5.0))
    for r in out.ranking:
        assert r.pilot.folds >= 1
        assert any("cut short by the budget" in n for n in r.pilot.notes)
        assert "cut short" in r.reason
