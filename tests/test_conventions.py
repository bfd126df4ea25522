"""House rules that keep the project honest: documented settings, public API, one migration
history matching the tables, the error tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import modelmint
from modelmint import errors
from modelmint.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"MODELMINT_{name.upper()}" in doc, (
            f"MODELMINT_{name.upper()} missing in docs/settings.md"
        )


def test_public_api_resolves():
    for name in modelmint.__all__:
        assert getattr(modelmint, name) is not None
    with pytest.raises(AttributeError):
        modelmint.no_such_thing  # noqa: B018


def test_error_tree_has_statuses_and_exit_codes():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ModelMintError)
        assert 400 <= cls.http_status <= 599 and cls.exit_code >= 1
    assert errors.RateLimited("x", retry_after=0, limit="quota").retry_after == 1


def test_migrations_match_the_tables(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from modelmint.store import open_store
    from modelmint.store.tables import metadata

    store = open_store(db_url)
    open_store(db_url)  # a second open is a no-op
    with store.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_no_pickle_anywhere_in_the_package():
    src = ROOT / "src" / "modelmint"
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(
            r"^\s*(import pickle|from pickle|import joblib|import dill)", text, re.M
        ), path
