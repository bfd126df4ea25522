"""Invoices and credit notes: inserted once, never updated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc
from modelmint.store.repos.common import as_dict, as_dicts


class InvoiceRepo:
    """Invoices and credit notes: inserted once, never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def issue(self, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert; if its dedupe key exists (the period was closed already), return that one.
        Returns (invoice, created). Two closes racing on PostgreSQL: the loser's insert hits a
        unique key, and it returns the winner's invoice (or, for a number clash, tries again)."""
        for _ in range(3):
            try:
                with self.db.write() as c:
                    found = self._by_dedupe(c, values["dedupe"])
                    if found is not None:
                        return found, False
                    n = c.execute(select(func.count()).select_from(t.invoices)).scalar() or 0
                    row = {**values, "number": values["number"].format(seq=int(n) + 1)}
                    c.execute(insert(t.invoices).values(**row))
                return self._out(row), True
            except IntegrityError:
                with self.db.read() as c:
                    found = self._by_dedupe(c, values["dedupe"])
                if found is not None:
                    return found, False
        raise Conflict("another process is issuing invoices at the same moment; run it again")

    def _by_dedupe(self, c: Any, dedupe: str) -> dict[str, Any] | None:
        row = as_dict(c.execute(select(t.invoices).where(t.invoices.c.dedupe == dedupe)).first())
        return None if row is None else self._out(row)

    def get(self, number: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(
                c.execute(select(t.invoices).where(t.invoices.c.number == number)).first()
            )
        if row is None:
            raise NotFound(f"invoice '{number}' does not exist; see `modelmint invoices list`")
        return self._out(row)

    def list(self, tenant_id: int | None = None, period: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.invoices).order_by(t.invoices.c.issued_at, t.invoices.c.number)
            if tenant_id is not None:
                q = q.where(t.invoices.c.tenant_id == tenant_id)
            if period is not None:
                q = q.where(t.invoices.c.period == period)
            return [self._out(r) for r in as_dicts(c.execute(q))]

    @staticmethod
    def _out(row: dict[str, Any]) -> dict[str, Any]:
        row["issued_at"] = as_utc(row["issued_at"])
        return row
