"""A monitoring report read from the store: the production version, its reference profile
(saved beside the model), the window's logged predictions, their feedback and outcomes. Used by
the CLI (through the pipeline), the worker and the admin API alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelmint.errors import NotFound
from modelmint.monitor.reference import Reference
from modelmint.monitor.report import Labels, Thresholds, Window, build_report
from modelmint.monitor.windows import SLICES, WindowSpec, slices
from modelmint.settings import Settings
from modelmint.store import Store


# --- a report --------------------------------------------------------------------------------
def production_version(store: Store, scenario: str) -> int:
    version = store.models.resolve_alias(scenario, "production")
    if version is not None:
        return version
    if not store.models.list(scenario):
        known = sorted({m["name"] for m in store.models.list()})
        raise NotFound(
            f"unknown scenario '{scenario[:100]}'; scenarios: {', '.join(known) or '(none yet)'}"
        )
    raise NotFound(
        f"scenario '{scenario}' has no production model; promote one with "
        f"`modelmint models promote {scenario}:VERSION`"
    )


def read_window(
    store: Store, scenario: str, spec: WindowSpec, now: datetime, *, with_text: bool = True
) -> tuple[Window, Labels]:
    """The window's logged predictions and their feedback and outcomes. ``with_text=False``
    leaves the logged texts out (a tabular reference tests the drift payload, never the text:
    reading a million JSON rows for nothing would double the report's time)."""
    start, end = spec.bounds(now)
    columns = store.monitoring.window(
        scenario, start=start, end=end, last=spec.count, with_text=with_text
    )
    window = Window.of(*columns)
    first = window.time(0) if len(window) else start
    labels = Labels(
        truth=store.monitoring.feedback_for(scenario, first),
        outcomes=store.monitoring.outcomes_for(scenario, first),
    )
    return window, labels


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(min_predictions=settings.monitor_min_predictions)


def monitor_report(
    store: Store,
    settings: Settings,
    scenario: str,
    spec: WindowSpec,
    *,
    now: datetime | None = None,
    series: bool = True,
) -> dict[str, Any]:
    """The monitoring report of `scenario`'s window, with the signals over its slices (for the
    charts) when `series`."""
    now = now or datetime.now(UTC)
    version = production_version(store, scenario)
    row = store.models.get(scenario, version)
    reference = Reference.load(Path(row["path"]))
    window, labels = read_window(
        store, scenario, spec, now, with_text=reference is None or reference.payload != "tabular"
    )
    th = thresholds(settings)
    test_metrics = dict((row["metrics"] or {}).get("test") or {})
    report = build_report(
        reference,
        window,
        labels,
        scenario=scenario,
        version=version,
        test_metrics=test_metrics,
        thresholds=th,
        description=spec.describe(),
    )
    if reference is None:
        report["note"] = (
            f"{scenario}:{version} was trained before reference profiles existed: input and output drift "
            f"need one; retrain, or register a new version, to get it"
        )
    if series:
        report["series"] = slice_series(reference, window, labels, scenario, version, th)
    return report


def slice_series(
    reference: Reference | None,
    window: Window,
    labels: Labels,
    scenario: str,
    version: int,
    th: Thresholds,
) -> list[dict[str, Any]]:
    """Each signal's value over consecutive slices of the window (what the charts draw)."""
    small = replace(th, min_predictions=max(10, th.min_predictions // SLICES))
    out = []
    for part in slices(len(window)):
        w = window.take(slice(part.start, part.stop))
        r = build_report(reference, w, labels, scenario=scenario, version=version, thresholds=small)
        out.append(
            {
                "until": w.time(-1).isoformat(),
                "predictions": len(w),
                **{k: s["value"] for k, s in r["signals"].items()},
            }
        )
    return out
