"""The insights HTML reports in a real browser (headless Chromium): the charts are drawn with
visible bars, the tables carry the same figures as --json, and nothing is fetched."""

from __future__ import annotations

import json

import pytest
from tests.chromium import needs_chromium, open_page
from tests.clock import LAST
from tests.insights.test_interfaces import books  # noqa: F401  (fixture)


@pytest.mark.browser
@needs_chromium
def test_margin_and_funnel_reports_render(books, mm, tmp_path):  # noqa: F811
    margin = tmp_path / "margin.html"
    mm("insights", "margin", "--period", LAST, "--by", "tenant", "--html", str(margin))
    rep = json.loads(mm("insights", "margin", "--period", LAST, "--by", "tenant", "--json").out)
    funnel = tmp_path / "funnel.html"
    mm("insights", "funnel", "--html", str(funnel), "--active-calls", "1")
    with open_page() as page:
        page.goto(margin.as_uri())
        assert page.title() == "ModelMint · Margin"
        charts = page.locator("figure svg")
        assert charts.count() >= 3  # over time (USD, CNY) and by tenant per currency
        assert page.get_by_role("img", name="Revenue and margin over time (USD)").count() == 1
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
        bars = page.locator("figure svg rect")
        assert any(
            (bars.nth(i).bounding_box() or {}).get("height", 0) > 5 for i in range(bars.count())
        )
        table = page.locator("table").first.inner_text()
        for row in rep["rows"]:
            assert row["tenant"] in table and row["revenue"] in table
        page.screenshot(path=str(tmp_path / "margin.png"), full_page=True)
        page.goto(funnel.as_uri())
        assert page.get_by_role("heading", name="Funnel").count() == 1
        assert page.locator("figure svg").count() == 1
        assert page.get_by_role("img", name="Funnel by plan (tenants at each step)").count() == 1
        page.screenshot(path=str(tmp_path / "funnel.png"), full_page=True)
