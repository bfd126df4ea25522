"""The HTML audit report in a real browser (headless Chromium through Playwright)."""

from __future__ import annotations

import pytest
from tests.chromium import needs_chromium, open_page

from modelmint import data


@pytest.mark.browser
@needs_chromium
def test_audit_report_renders_charts_and_findings(ws, reviews_csv, tmp_path):
    data.add_dataset(ws.store, ws.settings.datasets_dir, "reviews", reviews_csv)
    row, review = data.review_version(ws.store, "reviews", label_errors=True, cache=ws.cache)
    page_path = tmp_path / "audit.html"
    page_path.write_text(
        data.render_html("Data audit: reviews:1", row["audit"], review), encoding="utf-8"
    )
    with open_page() as page:
        page.goto(page_path.as_uri())
        assert page.title() == "Data audit: reviews:1"
        charts = page.locator("svg[role=img]")
        assert charts.count() == 2
        assert page.locator("svg[aria-label='Class balance'] rect").count() == 2
        box = page.locator("svg[aria-label='Class balance'] rect").first.bounding_box()
        assert box is not None and box["width"] > 50  # bars are drawn, not zero-width
        assert page.get_by_text("Suspected label errors").count() >= 1
        flagged = page.locator("table").last.locator("tbody tr").count()
        assert flagged == min(review["label_issues"]["count"], 50)
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)


@pytest.mark.browser
@needs_chromium
def test_evaluation_report_renders_plots_robustness_and_lineage(ws, trained, tmp_path):
    from modelmint.pipeline import evaluate_full

    ev = evaluate_full(ws, trained.model.ref)
    with open_page() as page:
        page.goto(ev.html_path.as_uri())
        assert page.title() == f"Evaluation of {trained.model.ref}"
        plots = page.locator("figure svg")
        assert plots.count() == 3  # confusion matrix, reliability, per-class F1
        for i in range(3):
            box = plots.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 150
        for heading in ("Metrics", "Plots", "Per class", "Robustness", "Lineage"):
            assert page.get_by_role("heading", name=heading).count() == 1
        assert page.get_by_text("accuracy_ci95").count() == 1
        page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
