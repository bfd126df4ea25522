"""The scenario scout: candidate scenarios (task + data + economics) from a YAML file, their
economics and a ranking by expected margin with the reasons. Pure: no training here (the pilots
run in ``modelmint.pipeline.scouting``), one concept per module:

- ``spec``: the YAML schema (pydantic), loading with line-numbered errors, the budget;
- ``results``: what a pilot measured (:class:`Pilot`, :class:`CurvePoint`);
- ``economics``: a pilot priced (:func:`price_pilot`), the power-law forecast;
- ``ranking``: the order and the reasons in words (:func:`rank`);
- ``report``: :class:`ScoutReport`, its JSON and its HTML page with charts.
"""

from modelmint.scout.economics import Economics, Forecast, fit_power_law, money, price_pilot
from modelmint.scout.ranking import Ranked, rank
from modelmint.scout.report import ScoutReport, render_html
from modelmint.scout.results import CurvePoint, Pilot
from modelmint.scout.spec import Compute, DataSpec, Scenario, ScoutSpec, load_spec, parse_budget

__all__ = [
    "Compute",
    "CurvePoint",
    "DataSpec",
    "Economics",
    "Forecast",
    "Pilot",
    "Ranked",
    "Scenario",
    "ScoutReport",
    "ScoutSpec",
    "fit_power_law",
    "load_spec",
    "money",
    "parse_budget",
    "price_pilot",
    "rank",
    "render_html",
]
