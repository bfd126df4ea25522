"""Evaluate stage: metrics on the frozen test split and the promotion gate."""

from modelmint.evaluate.gate import GateDecision, gate, mcnemar_exact
from modelmint.evaluate.metrics import classification_report, confused_pairs, evaluate_model

__all__ = [
    "GateDecision",
    "classification_report",
    "confused_pairs",
    "evaluate_model",
    "gate",
    "mcnemar_exact",
]
