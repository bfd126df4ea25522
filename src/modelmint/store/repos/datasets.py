"""Datasets: content-hashed, versioned snapshots (`modelmint data`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, utcnow
from modelmint.store.repos.common import as_dict, as_dicts


class DatasetRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find_by_hash(self, name: str, content_hash: str) -> dict[str, Any] | None:
        with self.db.read() as c:
            q = select(t.datasets).where(
                t.datasets.c.name == name, t.datasets.c.content_hash == content_hash
            )
            return as_dict(c.execute(q).first())

    def create(self, *, name: str, content_hash: str, **fields: Any) -> dict[str, Any]:
        """Insert the next version of `name`. Returns the stored row."""
        with self.db.write() as c:
            top = c.execute(
                select(func.max(t.datasets.c.version)).where(t.datasets.c.name == name)
            ).scalar()
            version = (top or 0) + 1
            values = dict(
                name=name, version=version, content_hash=content_hash, created_at=utcnow(), **fields
            )
            try:
                pk = c.execute(insert(t.datasets).values(**values)).inserted_primary_key
            except IntegrityError as exc:
                raise Conflict(
                    f"another version of dataset '{name}' was stored at the same moment; run "
                    "the command again"
                ) from exc
            assert pk is not None
            return {"id": pk[0], **values}

    def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as c:
            q = select(t.datasets).where(t.datasets.c.name == name)
            if version is None:
                q = q.order_by(t.datasets.c.version.desc()).limit(1)
            else:
                q = q.where(t.datasets.c.version == version)
            row = as_dict(c.execute(q).first())
        if row is None:
            what = f"dataset '{name}'" if version is None else f"dataset '{name}:{version}'"
            raise NotFound(f"{what} does not exist; see `modelmint data list` for what there is")
        return row

    def get_by_id(self, dataset_id: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(
                c.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first()
            )
        if row is None:
            raise NotFound(f"dataset id {dataset_id} does not exist")
        return row

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.datasets).order_by(t.datasets.c.name, t.datasets.c.version)
            if name:
                q = q.where(t.datasets.c.name == name)
            return as_dicts(c.execute(q))
