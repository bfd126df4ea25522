"""Feedback stage: feedback and outcomes on logged predictions; curation into examples."""

from modelmint.feedback.core import curate, record_feedback, record_outcome

__all__ = ["curate", "record_feedback", "record_outcome"]
