"""Assignment of a call to an arm, and the bandit's weights.

**Assignment** is a hash, so it is sticky per subject and the same in every server process
without coordination: u = SHA-256(experiment id, subject) mapped to [0, 1); the challenger
answers when u < its share. The subject is the caller's ``"subject"`` (an end user or session
id) or else the API key. When a bandit's share moves, only subjects whose u lies between the old
and the new share change arm.

**Weights** (bandit): Thompson sampling on the experiment's outcome. Each arm's rate has a
Beta(1 + k, 1 + n - k) posterior (or, for a value per call, a normal posterior on its mean);
the challenger's share is the share of 10,000 joint draws it wins, clipped to a floor of 5% per
arm so neither arm starves, and 50% during the burn-in (until each arm has 100 calls). The
worker recomputes it from the database every ``monitor_interval_seconds`` (60 s by default) and
stores it on the experiment, which every server process reads with its alias refresh.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from modelmint.experiments.stats import DRAWS, Arm

FLOOR = 0.05
BURN_IN = 100


def unit(experiment_id: str, subject: str) -> float:
    digest = hashlib.sha256(f"{experiment_id}\n{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def challenger_answers(experiment_id: str, subject: str, share: float) -> bool:
    return unit(experiment_id, subject) < share


def thompson_share(a: Arm, b: Arm, *, on_value: bool = False, seed: int = 0) -> float:
    """The challenger's share of traffic from the arms' outcomes so far."""
    if a.calls < BURN_IN or b.calls < BURN_IN:
        return 0.5
    rng = np.random.default_rng(seed)
    if on_value:
        draws = []
        for arm in (a, b):
            mean = arm.value / arm.calls
            var = max(arm.value_sq / arm.calls - mean * mean, 1e-12)
            draws.append(rng.normal(mean, math.sqrt(var / arm.calls), DRAWS))
        wins = float((draws[1] > draws[0]).mean())
    else:
        da = rng.beta(1 + a.successes, 1 + a.calls - a.successes, DRAWS)
        db = rng.beta(1 + b.successes, 1 + b.calls - b.successes, DRAWS)
        wins = float((db > da).mean())
    return min(1 - FLOOR, max(FLOOR, wins))
