"""Experiments read from and written to the store: start one (checked), its statistics, the
bandit's weights, stop it. Used by the CLI (through the pipeline, which adds the promotion
gate), the worker and the admin API alike."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from modelmint.errors import Conflict, InvalidInput, NotFound
from modelmint.experiments import bandit, stats
from modelmint.intervals import wilson
from modelmint.store import Store

MODES = ("shadow", "split", "bandit")
EVENT_MAX = 100


def _model_config(store: Store, scenario: str, version: int) -> dict[str, Any]:
    row = store.models.get(scenario, version)  # NotFound naming `models list`
    try:
        return json.loads((Path(row["path"]) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def parse_challenger(scenario: str, challenger: str) -> int:
    name, _, version = challenger.rpartition(":")
    if not version.isdigit() or (name and name != scenario):
        raise InvalidInput(
            f"challenger '{challenger[:60]}' must be {scenario}:VERSION, a version of the same "
            "scenario, e.g. --challenger " + f"{scenario}:2"
        )
    return int(version)


def start(
    store: Store,
    scenario: str,
    challenger: str,
    mode: str,
    *,
    now: datetime,
    traffic: float | None = None,
    metric: str | None = None,
    on_value: bool = False,
) -> dict[str, Any]:
    """Start an experiment of `challenger` (NAME:V) against production. `traffic` is a percent:
    the challenger's share of calls (split, 1 to 99; default 10), or the share of calls it
    scores in the shadow (1 to 100; default 100); a bandit starts at 50% (burn-in)."""
    if mode not in MODES:
        raise InvalidInput(f"mode '{mode[:20]}' is not one of {', '.join(MODES)}")
    production = store.models.resolve_alias(scenario, "production")
    if production is None:
        if not store.models.list(scenario):
            raise NotFound(f"unknown scenario '{scenario[:100]}'; see `modelmint models list`")
        raise Conflict(
            f"scenario '{scenario}' has no production model to challenge; promote one first"
        )
    version = parse_challenger(scenario, challenger)
    if version == production:
        raise Conflict(
            f"{scenario}:{version} is production; challenge it with another version "
            f"(`modelmint models list {scenario}`)"
        )
    prod_cfg = _model_config(store, scenario, production)
    cand_cfg = _model_config(store, scenario, version)
    if cand_cfg.get("task") != prod_cfg.get("task"):
        raise InvalidInput(
            f"{scenario}:{version} does a different task ({cand_cfg.get('task')}) than production "
            f"({prod_cfg.get('task')}); a challenger must answer the same question"
        )
    if sorted(cand_cfg.get("labels") or []) != sorted(prod_cfg.get("labels") or []):
        raise InvalidInput(
            f"{scenario}:{version} was trained on other labels than production "
            f"({', '.join(cand_cfg.get('labels') or [])} vs {', '.join(prod_cfg.get('labels') or [])}); "
            "its answers could not be compared"
        )
    if metric is not None:
        metric = metric.strip()
        if not metric or len(metric) > EVENT_MAX:
            raise InvalidInput(
                f"--metric must be an outcome event name of 1 to {EVENT_MAX} characters"
            )
    if mode == "bandit":
        if metric is None:
            raise InvalidInput("a bandit needs --metric EVENT, the outcome it learns from")
        if metric not in store.monitoring.events(scenario):
            known = store.monitoring.events(scenario)
            raise InvalidInput(
                f"outcome '{metric}' was never reported for {scenario}; a bandit learns from "
                f"reported outcomes (known: {', '.join(known) or 'none yet'}). Report outcomes "
                "with POST /v1/outcomes first, or start a split"
            )
        if traffic is not None:
            raise InvalidInput(
                "a bandit sets its own traffic (50% during burn-in); leave out --traffic"
            )
        share = 0.5
    elif mode == "split":
        share = _percent(traffic if traffic is not None else 10, 1, 99, "a split")
    else:
        share = _percent(traffic if traffic is not None else 100, 1, 100, "a shadow")
    if on_value and metric is None:
        raise InvalidInput("--value judges the value of an outcome: give --metric EVENT too")
    exp = store.experiments.start(
        now=now,
        scenario=scenario,
        production_version=production,
        challenger_version=version,
        mode=mode,
        share=share,
        metric=metric,
        on_value=on_value,
    )
    store.audit.record(
        "experiment.start",
        f"model:{scenario}/experiment:{exp['id']}",
        after={
            k: exp.get(k)
            for k in (
                "mode",
                "production_version",
                "challenger_version",
                "share",
                "metric",
                "on_value",
            )
        },
    )
    return exp


def _percent(value: float, low: float, high: float, what: str) -> float:
    if not low <= value <= high:
        raise InvalidInput(
            f"--traffic {value:g} is out of range; {what} takes {low:g} to {high:g} percent"
        )
    return value / 100


def current(store: Store, scenario: str) -> dict[str, Any]:
    exp = store.experiments.latest(scenario)
    if exp is None:
        raise NotFound(
            f"no experiment on '{scenario[:100]}'; start one with `modelmint experiments start "
            f"{scenario[:100]} --challenger {scenario[:100]}:VERSION --mode shadow`"
        )
    return exp


def arms(store: Store, exp: dict[str, Any]) -> tuple[stats.Arm, stats.Arm]:
    totals = store.experiments.arm_totals(exp, exp["metric"])
    return stats.Arm(**totals["production"]), stats.Arm(**totals["challenger"])


def summary(store: Store, exp: dict[str, Any]) -> dict[str, Any]:
    """Every statistic of the experiment (none hidden behind a setting)."""
    out: dict[str, Any] = {
        "id": exp["id"],
        "scenario": exp["scenario"],
        "production": f"{exp['scenario']}:{exp['production_version']}",
        "challenger": f"{exp['scenario']}:{exp['challenger_version']}",
        "mode": exp["mode"],
        "share": exp["share"],
        "metric": exp["metric"],
        "on_value": exp["on_value"],
        "status": exp["status"],
        "started_at": exp["started_at"].isoformat(),
        "stopped_at": exp["stopped_at"].isoformat() if exp["stopped_at"] else None,
        "decision": exp["decision"],
    }
    if exp["mode"] == "shadow":
        pairs = store.experiments.shadow_pairs(exp)
        n, labelled = pairs["pairs"], pairs["labelled"]
        measured = pairs.pop("measured")
        shadow_ms = pairs.pop("challenger_compute_ms")
        prod_ms = pairs.pop("production_compute_ms")
        out["shadow"] = {
            **pairs,
            # what the shadow costs: its own compute, scored on every sampled call, never billed
            "cost": {
                "measured_pairs": measured,
                "challenger_compute_seconds": round(shadow_ms / 1000, 6),
                "production_compute_seconds": round(prod_ms / 1000, 6),
                "challenger_ms_per_call": round(shadow_ms / measured, 4) if measured else None,
                "relative_to_production": round(shadow_ms / prod_ms, 4) if prod_ms else None,
            },
            "agreement": round(pairs["agree"] / n, 6) if n else None,
            "production_accuracy": round(pairs["production_right"] / labelled, 6)
            if labelled
            else None,
            "challenger_accuracy": round(pairs["challenger_right"] / labelled, 6)
            if labelled
            else None,
        }
        return out
    a, b = arms(store, exp)
    labelled = store.experiments.labelled_by_arm(exp)
    out["quality"] = {
        arm: {
            **v,
            "accuracy": round(v["right"] / v["labelled"], 6) if v["labelled"] else None,
            "interval": list(wilson(v["right"], v["labelled"])),
        }
        for arm, v in labelled.items()
    }
    if exp["mode"] == "split":
        out["sample_ratio"] = stats.sample_ratio(a.calls, b.calls, exp["share"])
    if exp["metric"]:
        out["rate"] = stats.compare_rates(a, b)
        if exp["on_value"]:
            out["value"] = stats.compare_values(a, b)
        judged = out["value"] if exp["on_value"] else out["rate"]
        what = f"{exp['metric']} {'value per call' if exp['on_value'] else 'rate'}"
        out["verdict"] = stats.verdict(judged, what).to_dict()
    else:
        out["arms"] = {"production": a.calls, "challenger": b.calls}
    return out


def update_bandits(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Recompute every running bandit's share from its outcomes (the worker, each minute)."""
    changed = []
    for exp in store.experiments.running():
        if exp["mode"] != "bandit":
            continue
        a, b = arms(store, exp)
        share = bandit.thompson_share(a, b, on_value=exp["on_value"])
        store.experiments.set_share(exp["id"], share, now)
        changed.append({"scenario": exp["scenario"], "share": share})
    return changed


def running(store: Store, scenario: str) -> dict[str, Any]:
    """The scenario's running experiment (409 naming the last one when none runs)."""
    exp = current(store, scenario)
    if exp["status"] != "running":
        raise Conflict(
            f"no experiment is running on '{scenario}' (the last one stopped at "
            f"{exp['stopped_at']:%Y-%m-%d %H:%M}); see `modelmint experiments show {scenario}`"
        )
    return exp


def finish(
    store: Store, exp: dict[str, Any], decision: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Stop `exp` with its decision; returns the final summary."""
    if not store.experiments.stop(exp["id"], decision, now):
        raise Conflict(
            f"the experiment on '{exp['scenario']}' was stopped by someone else just now"
        )
    store.audit.record(
        "experiment.stop",
        f"model:{exp['scenario']}/experiment:{exp['id']}",
        before={"status": exp.get("status")},
        after={"status": "stopped", "decision": decision},
    )
    return summary(store, {**exp, "status": "stopped", "stopped_at": now, "decision": decision})
