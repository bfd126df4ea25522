"""The scout's HTML report in a real browser (headless Chromium): ranking table, margin chart and
learning curves drawn, one section per candidate, nothing fetched."""

from __future__ import annotations

import pytest
from tests.chromium import needs_chromium, open_page
from tests.scout.test_run import report  # noqa: F401  (fixture)

from modelmint.scout import render_html


@pytest.mark.browser
@needs_chromium
def test_scout_report_renders(report, tmp_path):  # noqa: F811
    path = tmp_path / "scout.html"
    path.write_text(render_html(report), encoding="utf-8")
    with open_page() as page:
        page.goto(path.as_uri())
        assert page.title() == "ModelMint scenario scout"
        for heading in ("Margin", "Learning curves", "Candidates"):
            assert page.get_by_role("heading", name=heading).count() == 1
        charts = page.locator("svg")
        assert charts.count() >= 2
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
        ranking = page.locator("table").first.locator("tr")
        assert ranking.count() == 1 + len(report.ranking)
        assert "clear-reviews" in ranking.nth(1).inner_text()
        for r in report.ranking:
            assert page.get_by_role("heading", name=f"{r.rank}. {r.name}").count() == 1
        page.screenshot(path=str(tmp_path / "scout.png"), full_page=True)
