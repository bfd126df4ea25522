"""Tabular models: LightGBM on numeric and categorical features.

The booster is stored in LightGBM's own text format (``model.txt``, never pickle) beside a
schema that turns a feature dict into the booster's row: numeric columns as floats (missing as
NaN), string columns as category codes (unseen or missing as NaN, which LightGBM sends down the
learned missing-value branch). Explanations are exact TreeSHAP contributions
(``pred_contrib=True``)."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.modeling.base import REGRESSION, Model
from modelmint.types import Example

MODEL_FILE = "model.txt"


class Schema:
    """Column order, which columns are categorical, and each categorical column's levels."""

    def __init__(
        self,
        columns: list[str],
        levels: dict[str, list[str]],
        missing: list[str] | None = None,
    ) -> None:
        self.columns = columns
        self.levels = levels
        # columns that were missing in some training row; None: not recorded (models trained
        # before it was), so any column may be missing
        self.missing = None if missing is None else set(missing)
        self._codes = {c: {v: i for i, v in enumerate(lv)} for c, lv in levels.items()}

    @classmethod
    def infer(cls, rows: list[dict[str, Any]]) -> Schema:
        columns: list[str] = []
        for r in rows:
            for c in r:
                if c not in columns:
                    columns.append(c)
        levels: dict[str, list[str]] = {}
        for c in columns:
            values = [r.get(c) for r in rows if r.get(c) is not None]
            if any(isinstance(v, str) for v in values):
                counts: dict[str, int] = {}
                for v in values:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                levels[c] = sorted(counts, key=lambda v: (-counts[v], v))
        missing = [c for c in columns if any(r.get(c) is None for r in rows)]
        return cls(columns, levels, missing)

    @property
    def categorical(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c in self.levels]

    def matrix(self, rows: list[dict[str, Any]]) -> np.ndarray:
        x = np.full((len(rows), len(self.columns)), np.nan, dtype=np.float64)
        for i, r in enumerate(rows):
            for j, c in enumerate(self.columns):
                v = r.get(c)
                if v is None:
                    continue
                if c in self.levels:
                    code = self._codes[c].get(str(v))
                    if code is not None:
                        x[i, j] = code
                elif isinstance(v, bool | int | float):
                    x[i, j] = float(v)
                else:  # a word in a numeric column is treated as missing
                    with contextlib.suppress(ValueError):
                        x[i, j] = float(str(v))
        return x

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": self.columns, "levels": self.levels}
        if self.missing is not None:
            out["missing"] = sorted(self.missing)
        return out

    def check(self, value: dict[str, Any], i: int) -> None:
        """Each feature against what training saw: numbers in numeric columns, a known
        category in categorical ones, and null only where training had missing values."""
        for c in self.columns:
            v = value.get(c)
            if v is None:
                if self.missing is not None and c not in self.missing:
                    what = "one of its categories" if c in self.levels else "a number"
                    raise InvalidInput(
                        f"input {i} feature '{c}' is missing; it was never missing in training, "
                        f"so send {what}"
                    )
                continue
            if c in self.levels:
                if isinstance(v, bool) or str(v) not in self._codes[c]:
                    known = self.levels[c]
                    shown = ", ".join(map(repr, known[:10])) + (" ..." if len(known) > 10 else "")
                    raise InvalidInput(
                        f"input {i} feature '{c}' is {v!r}, a category training never saw; "
                        f"send one of {shown}"
                    )
            elif isinstance(v, bool) or not _is_number(v):
                raise InvalidInput(
                    f"input {i} feature '{c}' is {v!r}; it is numeric - send a number"
                    + (" or null" if self.missing is None or c in self.missing else "")
                )


def _is_number(v: Any) -> bool:
    if isinstance(v, int | float):
        return math.isfinite(v)
    try:
        return math.isfinite(float(str(v)))
    except ValueError:
        return False


class TabularModel(Model):
    kind = "lightgbm"

    def __init__(self, path: Path, config: dict[str, Any], booster: Any) -> None:
        super().__init__(path, config)
        self.booster = booster
        self.schema = Schema(
            config["schema"]["columns"],
            config["schema"]["levels"],
            config["schema"].get("missing"),
        )

    def input_of(self, example: Example) -> Any:
        return example.features or {}

    def parse_input(self, value: Any, i: int) -> Any:
        if not isinstance(value, dict):
            raise InvalidInput(
                f"input {i} is {type(value).__name__}; scenario task {self.task} takes an object "
                f"of features, e.g. {{{', '.join(repr(c) + ': ...' for c in self.schema.columns[:3])}}}"
            )
        unknown = [k for k in value if k not in self.schema.columns]
        if unknown:
            raise InvalidInput(
                f"input {i} has unknown feature(s) {', '.join(map(repr, unknown[:5]))}; the "
                f"features are: {', '.join(self.schema.columns)}"
            )
        for k, v in value.items():
            if v is not None and not isinstance(v, str | int | float | bool):
                raise InvalidInput(
                    f"input {i} feature '{k}' is {type(v).__name__}; send a number, a string or null"
                )
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInput(
                    f"input {i} feature '{k}' is not a finite number; send null instead"
                )
        self.schema.check(value, i)
        return value

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        raw = self.booster.predict(self.schema.matrix(list(inputs)))
        if self.task in REGRESSION:
            return np.asarray(raw, dtype=np.float64)
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 1:  # binary: probability of the second label
            raw = np.stack([1 - raw, raw], axis=1)
        return raw

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        x = self.schema.matrix([value])
        contrib = np.asarray(self.booster.predict(x, pred_contrib=True))[0]
        n = len(self.schema.columns) + 1  # + the expected value
        if self.task not in REGRESSION and len(self.labels) > 2:
            k = int(np.argmax(self.outputs([value])[0]))
            contrib = contrib[k * n : (k + 1) * n]
        elif self.task not in REGRESSION and int(np.argmax(self.outputs([value])[0])) == 0:
            contrib = -contrib  # binary contributions are for the second label
        feats = contrib[:-1]
        ranked = sorted(range(len(feats)), key=lambda j: -abs(float(feats[j])))[:top_k]
        return [
            {
                "feature": self.schema.columns[j],
                "value": value.get(self.schema.columns[j]),
                "weight": round(float(feats[j]), 6),
            }
            for j in ranked
        ]


def load_tabular(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    import lightgbm as lgb

    booster = lgb.Booster(model_str=(path / MODEL_FILE).read_text())
    return TabularModel(path, config, booster)
