"""Every step's value of a demo run, in the order the steps ran (what the e2e test checks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelmint.cli.demo.business import Business
from modelmint.cli.demo.loop import Challenged, Watched
from modelmint.cli.demo.steps import (
    DatasetVersion,
    Evaluated,
    LoadTest,
    Promoted,
    Retrained,
    Reviews,
    Shop,
    Summary,
    Traffic,
    Trained,
)


@dataclass(frozen=True)
class DemoResult:
    """Every step's value, in the order the steps ran."""

    home: Path
    reviews: Reviews
    dataset: DatasetVersion
    trained: Trained
    evaluated: Evaluated
    promoted: Promoted
    shop: Shop
    traffic: Traffic
    retrained: Retrained
    watched: Watched
    challenged: Challenged
    load: LoadTest
    summary: Summary
    business: Business
    seconds: float  # wall time of the whole demo

    @property
    def acme_calls(self) -> int:
        """Predict calls the demo made with acme's key: what acme's usage must count."""
        return (
            self.traffic.calls
            + self.retrained.check_calls
            + self.watched.calls
            + self.challenged.calls
        )
