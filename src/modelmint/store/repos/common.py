"""What every repository shares: rows as plain dicts, the dialect's ON CONFLICT insert, and the
stored form of an Idempotency-Key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from modelmint.store.db import as_utc


def idempotency_digest(key: str) -> str:
    """What is stored of a client's Idempotency-Key: its SHA-256 (hex), never the key itself
    (clients put order numbers, emails or phone numbers in it). Rows are per tenant, so the
    digest needs no tenant salt; callers pass the raw key and every lookup hashes it here."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def upsert(dialect: str, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (PostgreSQL, SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_ignore(dialect: str, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the dialect in use."""
    return upsert(dialect, table).on_conflict_do_nothing()


def as_dict(r: Row[Any] | None) -> dict[str, Any] | None:
    """A result row as a dict (None for None), its datetimes in UTC."""
    if r is None:
        return None
    d = dict(r._mapping)
    for k, v in d.items():
        if isinstance(v, datetime):
            d[k] = as_utc(v)
    return d


def as_dicts(rs: Iterable[Row[Any]]) -> list[dict[str, Any]]:
    """Result rows as dicts (see `as_dict`)."""
    return [d for d in (as_dict(r) for r in rs) if d is not None]
