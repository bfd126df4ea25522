"""The audit log: appends chained entries (one writer at a time: SQLite's write lock, or a
PostgreSQL advisory lock held to the end of the transaction), streams them in order for
verification, and lists them for people. The chain's rules are in `modelmint.audit`."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select

from modelmint import audit
from modelmint.errors import ConfigError
from modelmint.store import tables as t
from modelmint.store.db import Database, raw_rows, utcnow
from modelmint.store.repos.common import as_dicts

PARALLEL_FROM = 200_000  # entries from which `verify` uses one process per core
LOCK_ID = 0x6D6D_6175_6469_74  # "mmaudit": the PostgreSQL advisory lock of appends
COLUMNS = audit.ROW


class AuditRepo:
    def __init__(self, db: Database, key: bytes | Callable[[], bytes] | None = None) -> None:
        """`key`: the MAC key, or a function that returns it (read on first need, so commands
        that only read never create the key file)."""
        self.db = db
        self._key_source = key
        self._key: bytes | None = key if isinstance(key, bytes) else None

    @property
    def key(self) -> bytes:
        if self._key is None and callable(self._key_source):
            self._key = self._key_source()
        if self._key is None:
            raise ConfigError(
                "the audit log's key is not set: open the store with the server key "
                "(open_store(url, audit_key=...); the CLI and the server do it from "
                "MODELMINT_SECRET_KEY or HOME/secret.key)"
            )
        return self._key

    def check_key(self) -> None:
        """Refuse a key other than the one that signed the newest entry (a host set up with
        another server key would fork the chain)."""
        if self._key_source is None:
            return
        with self.db.read() as c:
            last = c.execute(
                select(t.audit_log.c.key_id).order_by(t.audit_log.c.seq.desc()).limit(1)
            ).scalar()
        if last is None:
            return
        mine = audit.key_id(self.key)
        if last != mine:
            raise ConfigError(
                f"this host's server key (audit key id {mine}) is not the one that signed the "
                f"audit log (key id {last}); set MODELMINT_SECRET_KEY (or copy HOME/secret.key) "
                "to the same value on every host that shares this database"
            )

    def record(
        self,
        action: str,
        target: str,
        *,
        before: Any = None,
        after: Any = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one entry for the current actor (modelmint.audit.current_actor)."""
        return self.record_many([(action, target, before, after)], now=now)[0]

    def record_many(
        self, items: list[tuple[str, str, Any, Any]], *, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Append (action, target, before, after) entries in one transaction, in order."""
        key = self.key
        who = audit.current_actor()
        at = audit.timestamp(now or utcnow())
        kid = audit.key_id(key)
        request_id = audit.clean(who.request_id, 100) if who.request_id else None
        entries = [
            {
                "at": at,
                "actor": audit.clean(who.name, 200),
                "action": audit.clean(action, 60),
                "target": audit.clean(target, 300),
                "before": audit.snapshot(before),
                "after": audit.snapshot(after),
                "request_id": request_id,
                "key_id": kid,
            }
            for action, target, before, after in items
        ]
        if not entries:
            return []
        a = t.audit_log.c
        with self.db.write() as c:
            if self.db.dialect == "postgresql":
                c.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
            head = c.execute(select(a.seq, a.mac).order_by(a.seq.desc()).limit(1)).first()
            seq, prev = (int(head[0]), str(head[1])) if head else (0, audit.GENESIS)
            for e in entries:
                seq += 1
                e["seq"], e["prev"] = seq, prev
                e["mac"] = prev = audit.mac(key, e, prev)
            c.execute(insert(t.audit_log), entries)
        return entries

    def scan_rows(
        self, first: int = 1, end: int | None = None, chunk: int = 50_000
    ) -> Iterator[tuple[Any, ...]]:
        """Entries `first` <= seq < `end` (all from `first` without `end`) in `seq` order as
        tuples in `audit.ROW` order, streamed a page of `chunk` at a time (keyset pages on the
        primary key, in one read transaction), so memory stays at one page."""
        cols = [getattr(t.audit_log.c, n) for n in COLUMNS]
        seq = t.audit_log.c.seq
        last = first - 1
        with self.db.read() as c:
            while True:
                page = select(*cols).where(seq > last)
                if end is not None:
                    page = page.where(seq < end)
                got = [
                    r for rows in raw_rows(c, page.order_by(seq).limit(chunk), chunk) for r in rows
                ]
                yield from got
                if len(got) < chunk:
                    return
                last = int(got[-1][0])

    def scan(self, chunk: int = 50_000) -> Iterator[dict[str, Any]]:
        """Every entry in `seq` order as a dict."""
        for r in self.scan_rows(chunk=chunk):
            yield dict(zip(COLUMNS, r, strict=True))

    def head(self) -> tuple[int, str]:
        """(count, MAC of the newest entry); (0, GENESIS) for an empty log."""
        a = t.audit_log.c
        with self.db.read() as c:
            row = c.execute(select(a.seq, a.mac).order_by(a.seq.desc()).limit(1)).first()
        return (int(row[0]), str(row[1])) if row else (0, audit.GENESIS)

    def entries(
        self,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first, with the number of entries that match. `actor`, `target` and
        `action` match as given (a target also matches what is under it: 'tenant:acme' finds
        'tenant:acme/key:...'), or as a prefix when they end in ':', '.' or '/'; `since` and
        `until` are entries' UTC times (modelmint.audit.timestamp)."""
        a = t.audit_log.c
        conds = []
        for col, value in ((a.actor, actor), (a.target, target), (a.action, action)):
            if not value:
                continue
            if value[-1] in ":./":  # a prefix: 'tenant:', 'key.'
                conds.append(col.startswith(value, autoescape=True))
            else:  # the thing itself and what is under it: 'tenant:acme' finds its keys too
                conds.append(or_(col == value, col.startswith(value + "/", autoescape=True)))
        if since:
            conds.append(a.at >= since)
        if until:
            conds.append(a.at < until)
        q = select(t.audit_log).where(*conds)
        with self.db.read() as c:
            total = c.execute(select(func.count()).select_from(q.subquery())).scalar() or 0
            rows = as_dicts(c.execute(q.order_by(a.seq.desc()).limit(limit).offset(offset)))
        return rows, int(total)

    def verify(self, checkpoint: Any = None, *, workers: int | None = None) -> audit.Verification:
        """Walk the whole chain (and check it against a checkpoint, first checked itself:
        ValueError when it is not one of this key's). From PARALLEL_FROM entries on, the log is
        cut into one run per core (up to 4), each read and checked by its own process, and the
        runs' joins are checked like any other link."""
        key = self.key
        cp = audit.check_checkpoint(key, checkpoint) if checkpoint is not None else None
        mark = int(cp["count"]) if cp else 0
        count, _ = self.head()
        n = workers or min(os.cpu_count() or 1, 4)
        if n <= 1 or count < PARALLEL_FROM or os.name != "posix":
            return audit.combine([audit.verify_segment(self.scan_rows(), key, 1, mark)], cp)
        bounds = [1 + count * i // n for i in range(n)] + [count + 1]
        runs = list(itertools.pairwise(bounds))
        ctx = multiprocessing.get_context("fork")  # the children share nothing but the URL
        with ProcessPoolExecutor(
            n - 1, mp_context=ctx, initializer=_forget_pool, initargs=(self.db.engine,)
        ) as pool:
            later = [
                pool.submit(_verify_run, self.db.url, key, lo, hi, mark) for lo, hi in runs[1:]
            ]
            lo, hi = runs[0]
            segments = [audit.verify_segment(self.scan_rows(lo, hi), key, lo, mark)]
            segments += [f.result() for f in later]
        return audit.combine(segments, cp)

    def checkpoint(self, now: datetime | None = None) -> dict[str, Any]:
        """A signed checkpoint of the log as it is now (recorded in the log itself too)."""
        count, head = self.head()
        cp = audit.make_checkpoint(self.key, count, head, now or utcnow())
        self.record("audit.checkpoint", "audit_log", after={"count": count, "head": head})
        return cp

    def read(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """`entries(...)` for a person: the read is recorded too (who looked, with what)."""
        rows, total = self.entries(**filters)
        asked = {k: v for k, v in filters.items() if v not in (None, "")}
        self.record("audit.read", "audit_log", after={**asked, "returned": len(rows)})
        return rows, total


def _forget_pool(engine: Any) -> None:
    """In a forked child: drop the parent's pooled connections without closing them (they
    belong to the parent)."""
    engine.dispose(close=False)


def _verify_run(url: str, key: bytes, first: int, end: int, mark: int) -> audit.Segment:
    db = Database(url)
    try:
        return audit.verify_segment(AuditRepo(db, key).scan_rows(first, end), key, first, mark)
    finally:
        db.dispose()
