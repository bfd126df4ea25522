"""The scout's input: a YAML file of candidate scenarios (task + data + economics), validated with
pydantic. Every number has a range; an error names the YAML line and key and the fix.

The schema is documented, with a full example, in docs/scout.md."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelmint.errors import InvalidInput

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_CALLS = 10_000_000_000
"""Most calls a month a scenario may expect (ten billion): more is a typo."""

BUDGET_MIN_S = 10.0
BUDGET_MAX_S = 24 * 3600.0
_BUDGET = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", re.I)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where a candidate's labelled data is and which columns mean what, as `data add` takes
    them: ``text`` + ``label`` (text classification), ``target`` + ``features`` (tabular
    regression), ``label`` + ``features`` (tabular classification)."""

    path: Path
    text: str | None = None
    label: str | None = None
    target: str | None = None
    features: Literal["all"] | list[str] | None = None
    format: Literal["csv", "tsv", "jsonl"] | None = None
    encoding: str | None = None

    @model_validator(mode="after")
    def _columns(self) -> DataSpec:
        if self.target is not None and self.label is not None:
            raise ValueError(
                "give either 'label' (classification) or 'target' (regression), not both"
            )
        if self.target is not None and self.features is None and self.text is None:
            raise ValueError("a 'target' needs 'features' (a list of columns or 'all') or 'text'")
        if self.features is not None and self.text is not None:
            raise ValueError("give either 'text' or 'features' as the input, not both")
        return self

    @property
    def feature_list(self) -> list[str] | None:
        """As `data add --features` takes it: None, ['all'] or the columns."""
        if self.features is None:
            return None
        return ["all"] if self.features == "all" else list(self.features)


class Scenario(_Strict):
    """One candidate: its data and its economics. Money is in the file's currency."""

    name: str
    data: DataSpec
    task: (
        Literal[
            "text-classification",
            "text-regression",
            "tabular-classification",
            "tabular-regression",
        ]
        | None
    ) = None
    base_model: str | None = None
    price_per_1k: Decimal | None = Field(None, ge=0, le=10_000)
    monthly_fee: Decimal | None = Field(None, ge=0, le=10_000_000)
    included_calls: int | None = Field(None, ge=0, le=MAX_CALLS)
    overage_per_1k: Decimal | None = Field(None, ge=0, le=10_000)
    monthly_calls: int = Field(ge=1, le=MAX_CALLS)
    value_per_correct: Decimal = Field(Decimal(0), ge=0, le=10_000)
    cost_per_error: Decimal = Field(Decimal(0), ge=0, le=10_000)
    labelling_cost_per_row: Decimal = Field(Decimal(0), ge=0, le=1_000)
    tolerance: float = Field(0.10, gt=0, le=1)
    """Regression: a prediction within this relative error of the true value counts as right."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.fullmatch(v):
            raise ValueError(
                f"'{v}' is not a valid name; use lowercase letters, digits, '-' and '_' "
                "(e.g. review-sentiment)"
            )
        return v

    @model_validator(mode="after")
    def _pricing(self) -> Scenario:
        if (self.price_per_1k is None) == (self.monthly_fee is None):
            raise ValueError(
                "give one price: 'price_per_1k' (pay as you go) or 'monthly_fee' (a subscription, "
                "with 'included_calls' and 'overage_per_1k')"
            )
        if self.monthly_fee is None and (
            self.included_calls is not None or self.overage_per_1k is not None
        ):
            raise ValueError("'included_calls' and 'overage_per_1k' go with 'monthly_fee'")
        return self

    @property
    def regression(self) -> bool:
        return self.data.target is not None


class Compute(_Strict):
    """What compute costs: serving CPU time is priced per core-hour; a fixed monthly cost per
    scenario (hosting, monitoring) is optional."""

    cpu_core_hour: Decimal = Field(ge=0, le=100)
    fixed_monthly: Decimal = Field(Decimal(0), ge=0, le=10_000_000)


class ScoutSpec(_Strict):
    currency: str
    compute: Compute
    scenarios: list[Scenario] = Field(min_length=1, max_length=20)

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        import pycountry

        code = v.strip().upper()
        if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
            raise ValueError(f"'{v}' is not an ISO 4217 currency code; use e.g. CNY, USD or EUR")
        return code

    @model_validator(mode="after")
    def _unique(self) -> ScoutSpec:
        seen: set[str] = set()
        for s in self.scenarios:
            if s.name in seen:
                raise ValueError(f"two scenarios are named '{s.name}'; give each its own name")
            seen.add(s.name)
        return self


# --- loading ---------------------------------------------------------------------------------
def load_spec(path: Path) -> ScoutSpec:
    """Read and validate a scenarios YAML; data paths are resolved against the file's folder
    and must exist. Raises InvalidInput naming the line and key, and the fix."""
    import yaml

    if not path.is_file():
        raise InvalidInput(
            f"{path} not found; pass the path of a scenarios YAML (see docs/scout.md)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text; save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(
            f"{path.name}{where}: {exc.problem or exc.context} - fix the YAML there (indentation, "
            "a missing ':' or an unclosed quote)"
        ) from None
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{path.name}: expected a mapping with currency, compute and scenarios (see "
            "docs/scout.md for an example)"
        )
    try:
        spec = ScoutSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(node, loc)
        key = _dotted(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        fix = _fix(err["type"], loc)
        more = (
            f"; {len(exc.errors()) - 1} more problem(s) after it" if len(exc.errors()) > 1 else ""
        )
        raise InvalidInput(
            f"{path.name} line {line}, {key}: {msg}{shown}{fix}{more}", details=exc.errors()
        ) from None
    base = path.resolve().parent
    out = []
    for i, s in enumerate(spec.scenarios):
        p = s.data.path if s.data.path.is_absolute() else base / s.data.path
        if not p.is_file():
            line = _line_of(node, ("scenarios", i, "data", "path"))
            raise InvalidInput(
                f"{path.name} line {line}, scenarios[{i}].data.path: {s.data.path} not found "
                f"(looked for {p}); fix the path - a relative path is read from the YAML's folder"
            )
        out.append(s.model_copy(update={"data": s.data.model_copy(update={"path": p})}))
    return spec.model_copy(update={"scenarios": out})


def line_of(path: Path, loc: tuple[Any, ...]) -> int:
    """The 1-based line of key `loc` (e.g. ("scenarios", 0, "data", "label")) in the YAML."""
    import yaml

    return _line_of(yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader), loc)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "literal", "list", "str", "constrained-str"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _fix(kind: str, loc: tuple[Any, ...]) -> str:
    if kind == "missing":
        return " - add it"
    if kind == "extra_forbidden":
        return " - remove it or check its spelling (docs/scout.md lists every key)"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return " - use a number in that range"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return " - write a plain number or text there"
    return ""


def _line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node that `loc` reaches (the key's line when the
    key exists, else its parent's)."""
    import yaml

    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_budget(text: str | float | int) -> float:
    """'90s', '10m', '1.5h' or a number of seconds -> seconds, within 10 s .. 24 h."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        m = _BUDGET.fullmatch(text)
        if not m:
            raise InvalidInput(f"budget '{text}' is not a duration; write it like 90s, 10m or 1.5h")
        unit = (m.group(2) or "s").lower()[0]
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    if not BUDGET_MIN_S <= seconds <= BUDGET_MAX_S:
        raise InvalidInput(f"budget {text} is out of range; use 10s to 24h (e.g. --budget 10m)")
    return seconds


__all__ = [
    "BUDGET_MAX_S",
    "BUDGET_MIN_S",
    "Compute",
    "DataSpec",
    "Scenario",
    "ScoutSpec",
    "line_of",
    "load_spec",
    "parse_budget",
]
