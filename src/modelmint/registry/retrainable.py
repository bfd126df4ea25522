"""Can a scenario be retrained from its feedback right now? The check at the door.

``retrain_preflight(store, scenario)`` answers before anything is queued or trained, with the
reason and the fix, so that the CLI, the job worker and the admin HTTP API refuse the same
things in the same words. It reads only the registry, the stored dataset files and the
feedback rows, never training code, so the serving process may call it.

A retrain is refused when:

- the scenario has no production version (NotFound),
- it has no corrected rows (``--rows``) and its task is not one whose feedback becomes
  training data (entities, images: InvalidInput), or
- no labelled feedback is new to the production version's dataset and no corrected rows are
  given (InvalidInput), or
- everything new was already trained into another version - typically a candidate the gate
  kept out of production - so a retrain would register a duplicate (Conflict).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmint.errors import Conflict, InvalidInput, NotFound
from modelmint.store import Store
from modelmint.types import FEEDBACK_TASKS, Example, feedback_example

RETRAINABLE_TASKS = FEEDBACK_TASKS
"""Tasks whose feedback (a corrected answer) becomes training data in ``modelmint retrain``;
every task is retrained from corrected rows (``modelmint retrain SCENARIO --rows FILE``)."""


@dataclass(frozen=True)
class RetrainPlan:
    """What a retrain that passed the preflight will start from."""

    scenario: str
    production: int
    """The production version the candidate will be gated against."""
    task: str
    dataset: str
    """The production version's dataset, ``NAME:VERSION``; the new version extends it."""
    new_examples: int
    """Labelled feedback texts not in that dataset (before majority voting)."""


def require_retrainable(task: str, scenario: str) -> None:
    """InvalidInput, naming what to do instead, unless `task` can be retrained from feedback."""
    if task not in RETRAINABLE_TASKS:
        raise InvalidInput(
            f"feedback becomes training data for {', '.join(RETRAINABLE_TASKS)}; '{scenario}' "
            f"is {task} - retrain it from corrected rows: `modelmint retrain {scenario} --rows "
            "FILE` (the same columns, or class folders, as its data)"
        )


def _dataset_pairs(path: Path) -> set[tuple[str, str]]:
    """(input, answer) of every example of a stored dataset version, whatever the task."""
    out: set[tuple[str, str]] = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            e = Example.from_record(json.loads(line))
            out.add((e.input_key(), e.answer()))
    return out


def _feedback_pairs(
    store: Store, scenario: str, task: str, labels: Iterable[str]
) -> list[tuple[str, str]]:
    """The latest usable answer given for each input (a light version of curation: enough to
    tell whether anything is new)."""
    known = frozenset(labels)
    latest: dict[str, str] = {}
    for r in store.feedback.labelled(scenario):
        e = feedback_example(task, r["text"] or "", r["label"], known)
        if not isinstance(e, str):
            latest[e.input_key()] = e.answer()
    return sorted(latest.items())


def retrain_preflight(
    store: Store,
    scenario: str,
    feedback_examples: Iterable[tuple[str, str]] | None = None,
    *,
    with_rows: bool = False,
) -> RetrainPlan:
    """Refuse, with the reason and the fix, a retrain of `scenario` that cannot run or would
    add nothing; otherwise say what it will start from.

    ``feedback_examples`` are curated (input key, answer) pairs when the caller has them (the
    pipeline, after majority voting); without them the stored feedback is read. ``with_rows``:
    corrected rows come with the retrain, so neither the task nor the lack of new feedback
    refuses it (the rows are checked when they are read)."""
    production = store.models.resolve_alias(scenario, "production")
    if production is None:
        raise NotFound(
            f"'{scenario}' has no production version to retrain; train and promote one with "
            f"`modelmint train {scenario} --promote`"
        )
    row = store.models.get(scenario, production)
    task = row["task"]
    ds = store.datasets.get_by_id(row["dataset_id"])
    dataset = f"{ds['name']}:{ds['version']}"
    if with_rows:
        return RetrainPlan(scenario, production, task, dataset, 0)
    require_retrainable(task, scenario)
    base_texts = {t for t, _ in _dataset_pairs(Path(ds["path"]))}
    pairs = (
        list(feedback_examples)
        if feedback_examples is not None
        else _feedback_pairs(store, scenario, task, ds["labels"])
    )
    fresh = {(t, lab) for t, lab in pairs if t not in base_texts}
    if not fresh:
        raise InvalidInput(
            f"no new labelled feedback for '{scenario}' since its production version "
            f"{scenario}:{production} ({len(pairs)} labelled feedback texts, none new to its "
            f"dataset {dataset}); send POST /v1/feedback with correct labels, then retrain"
        )
    _refuse_duplicate(store, scenario, production, ds["id"], fresh)
    return RetrainPlan(scenario, production, task, dataset, len(fresh))


def _refuse_duplicate(
    store: Store,
    scenario: str,
    production: int,
    production_dataset_id: int,
    fresh: set[tuple[str, str]],
) -> None:
    """Conflict when another version was already trained on production's dataset plus all of
    `fresh` (a retrain from the same base whose candidate the gate rejected, or a version
    rolled back from): training again would only register a duplicate of it."""
    datasets: dict[int, dict[str, Any]] = {}
    for m in reversed(store.models.list(scenario)):  # newest first
        if m["version"] == production:
            continue
        if m["dataset_id"] not in datasets:
            datasets[m["dataset_id"]] = store.datasets.get_by_id(m["dataset_id"])
        ds = datasets[m["dataset_id"]]
        if ds.get("parent_id") != production_dataset_id:
            continue  # not built from production's dataset: not a retrain of this base
        if fresh <= _dataset_pairs(Path(ds["path"])):
            aliases = [
                a["alias"] for a in store.models.aliases(scenario) if a["version"] == m["version"]
            ]
            shown = f"{scenario}:{m['version']}" + (f" ({', '.join(aliases)})" if aliases else "")
            raise Conflict(
                f"the {len(fresh)} new feedback texts of '{scenario}' were already trained "
                f"into {shown} (dataset {ds['name']}:{ds['version']}); retraining would "
                f"register a duplicate - send new feedback first, or promote it with "
                f"`modelmint models promote {scenario}:{m['version']}`"
            )


__all__ = ["RETRAINABLE_TASKS", "RetrainPlan", "require_retrainable", "retrain_preflight"]


def queue_retrain(store: Store, scenario: str, min_improvement: float = 0.0) -> dict[str, Any]:
    """Check that a retrain of `scenario` can run (`retrain_preflight`), then queue it for the
    worker; the request is audited (the job's own changes are audited as `job:retrain`)."""
    retrain_preflight(store, scenario)
    params = {"scenario": scenario, "min_improvement": min_improvement}
    job = store.jobs.enqueue("retrain", params)
    store.audit.record("retrain.requested", f"model:{scenario}", after={**params, "job": job["id"]})
    return job
