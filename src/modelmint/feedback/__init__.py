"""Feedback stage: feedback and outcomes on logged predictions; curation into examples."""

from modelmint.feedback.core import curate, find_prediction, record_feedback, record_outcome

__all__ = ["curate", "find_prediction", "record_feedback", "record_outcome"]
