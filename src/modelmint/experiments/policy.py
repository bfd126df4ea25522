"""A scenario's retraining policy: when the worker retrains it, and what happens to the result.

Triggers (any may be set; each run records which one fired):
- ``retrain_every``: a duration (1h to 365d) since the last policy run;
- ``retrain_on_drift``: an input-drift alert raised since the last run;
- ``retrain_after_labels``: that many new feedback labels (1 to 10,000,000) since the last run.

What happens to the candidate:
- no ``challenger``: the gate decides (promoted only if significantly better);
- ``challenger`` ``shadow``, ``split:PCT`` (1-99) or ``bandit``: a candidate that passes the
  quality gate is not promoted at once but challenges production in that experiment, judged on
  ``metric`` (an outcome event; required for split and bandit); with ``auto_promote`` the worker
  stops the experiment with the full gate as soon as its verdict on the metric is in (better or
  worse with evidence), else an operator stops it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from modelmint.errors import InvalidInput

_DURATION = re.compile(r"(\d{1,6})([hd])")
MIN_EVERY, MAX_EVERY = timedelta(hours=1), timedelta(days=365)
MAX_LABELS = 10_000_000


@dataclass(frozen=True)
class PolicySpec:
    retrain_every: str | None = None
    retrain_on_drift: bool = False
    retrain_after_labels: int | None = None
    challenger: str | None = None  # shadow | split:PCT | bandit
    metric: str | None = None
    auto_promote: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def every(self) -> timedelta | None:
        return None if self.retrain_every is None else parse_every(self.retrain_every)

    @property
    def mode(self) -> str | None:
        return None if self.challenger is None else self.challenger.split(":", 1)[0]

    @property
    def traffic(self) -> float | None:
        if self.challenger and self.challenger.startswith("split:"):
            return float(self.challenger.split(":", 1)[1])
        return None

    @property
    def triggers(self) -> bool:
        return bool(self.retrain_every or self.retrain_on_drift or self.retrain_after_labels)


def parse_every(text: str) -> timedelta:
    m = _DURATION.fullmatch(text.strip().lower())
    if not m:
        raise InvalidInput(
            f"--retrain-every '{text[:20]}' is not a duration; use hours or days, e.g. 12h or 7d"
        )
    every = int(m.group(1)) * (timedelta(hours=1) if m.group(2) == "h" else timedelta(days=1))
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise InvalidInput(f"--retrain-every {text} is out of range; use 1h to 365d")
    return every


def check(spec: PolicySpec) -> PolicySpec:
    """The spec, normalised, or InvalidInput naming the field and the fix."""
    if spec.retrain_every is not None:
        parse_every(spec.retrain_every)
    if spec.retrain_after_labels is not None and not 1 <= spec.retrain_after_labels <= MAX_LABELS:
        raise InvalidInput(
            f"--retrain-after-labels {spec.retrain_after_labels} is out of range; use 1 to "
            f"{MAX_LABELS:,}"
        )
    if spec.challenger is not None:
        mode, _, pct = spec.challenger.partition(":")
        if mode not in ("shadow", "split", "bandit") or (mode == "split") != bool(pct):
            raise InvalidInput(
                f"--challenger '{spec.challenger[:30]}' is not one of shadow, split:PCT (e.g. "
                "split:10) or bandit"
            )
        if pct and not (pct.isdigit() and 1 <= int(pct) <= 99):
            raise InvalidInput(f"--challenger split:{pct[:10]} needs a percent from 1 to 99")
        if mode in ("split", "bandit") and not spec.metric:
            raise InvalidInput(f"a {mode} challenger is judged on an outcome: add --metric EVENT")
    if spec.metric is not None and not 1 <= len(spec.metric.strip()) <= 100:
        raise InvalidInput("--metric must be an outcome event name of 1 to 100 characters")
    if spec.auto_promote and spec.challenger is None:
        raise InvalidInput(
            "--auto-promote acts on an experiment's verdict: add --challenger (without one the "
            "gate already promotes a candidate that passes)"
        )
    return spec


def set_policy(store: Any, scenario: str, spec: PolicySpec, now: Any) -> dict[str, Any]:
    """Store the scenario's policy (replacing the previous one)."""
    from modelmint.errors import NotFound
    from modelmint.types import FEEDBACK_TASKS

    versions = store.models.list(scenario)
    if not versions:
        raise NotFound(f"unknown scenario '{scenario[:100]}'; see `modelmint models list`")
    spec = check(spec)
    task = versions[-1]["task"]
    if spec.triggers and task not in FEEDBACK_TASKS:
        raise InvalidInput(
            f"'{scenario}' is {task}, which learns from corrected rows, not from feedback: the "
            f"worker has nothing to retrain it on; run `modelmint retrain {scenario} --rows "
            "FILE` when you have corrected rows"
        )
    before = store.policies.get(scenario)
    row = public(store.policies.set(scenario, spec.to_dict(), now))
    store.audit.record(
        "policy.set",
        f"model:{scenario}/policy",
        before=public(before) if before else None,
        after=row,
    )
    return row


def get_policy(store: Any, scenario: str) -> dict[str, Any]:
    from modelmint.errors import NotFound

    row = store.policies.get(scenario)
    if row is None:
        raise NotFound(
            f"no policy for '{scenario[:100]}'; set one with `modelmint policy set {scenario[:100]} "
            "--retrain-after-labels 200`"
        )
    return public(row)


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": row["scenario"],
        **row["spec"],
        "updated_at": row["updated_at"].isoformat(),
        "last_run_at": row["last_run_at"].isoformat() if row["last_run_at"] else None,
        "last_trigger": row["last_trigger"],
        "last_job": row["last_job_id"],
    }
