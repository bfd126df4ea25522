"""Monitoring: compare a window of a scenario's logged predictions with the production
version's reference profile (input drift, output drift, quality once feedback arrives, and the
business outcome per version), and turn the verdicts into alerts raised once per crossing.

Pure computation on plain values: the pipeline reads the window from the store, this package
judges it, the pipeline stores alerts and delivers them."""

from modelmint.monitor.alerting import Change, changes
from modelmint.monitor.reference import Reference, build
from modelmint.monitor.report import SIGNALS, Labels, Thresholds, Window, build_report
from modelmint.monitor.service import monitor_report, production_version
from modelmint.monitor.windows import WindowSpec, parse_window, slices

__all__ = [
    "SIGNALS",
    "Change",
    "Labels",
    "Reference",
    "Thresholds",
    "Window",
    "WindowSpec",
    "build",
    "build_report",
    "changes",
    "monitor_report",
    "parse_window",
    "production_version",
    "slices",
]
