"""Engine, migrations and transactions. The only place that knows which database we run on."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from ulid import ULID

from modelmint.errors import ConfigError, ServiceUnavailable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_ID = 7_337_001  # PostgreSQL advisory lock held while migrating


def new_id() -> str:
    """A sortable unique id (ULID, 26 characters)."""
    return str(ULID())


def utcnow() -> datetime:
    return datetime.now(UTC)


_gc_lock = threading.Lock()
_gc_pauses = [0, True]  # readers inside paused_gc, whether the collector ran before the first


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a bulk read builds its columns: the driver's
    row tuples of each chunk would otherwise be traversed by full collections again and again
    (1.9 s of a 1M-row window in B6; rows hold no cycles). Counted, so that readers in several
    threads resume it only when the last one is done."""
    with _gc_lock:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


def raw_rows(conn: Connection, query: Any, chunk: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """`query`'s rows as the driver returns them, `chunk` at a time: SQLAlchemy binds the
    parameters, but no row passes through its result processing (a million-row window reads in
    a third of the time). Values are the driver's: SQLite gives text for DateTime columns
    (`as_times` reads them), both drivers give bytes for LargeBinary."""
    result = conn.execute(query)
    try:
        while part := result.cursor.fetchmany(chunk):
            yield part
    finally:
        result.close()


def as_times(values: list[Any]) -> np.ndarray:
    """A DateTime column's raw values (SQLite's text, PostgreSQL's aware datetimes) as UTC
    ``datetime64[us]``, parsed in one call where the text allows it."""
    if not values:
        return np.zeros(0, dtype="datetime64[us]")
    if isinstance(values[0], str):
        # SQLAlchemy writes "YYYY-MM-DD HH:MM:SS[.ffffff]" (19 or 26 characters): one numpy
        # call. Any other length (an offset, a "Z") takes the slow road, which reads them all.
        if set(map(len, values)) <= {19, 26}:
            return np.array(values, dtype="datetime64[us]")
        values = [datetime.fromisoformat(v) for v in values]
    return np.array(
        [v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v for v in values],
        dtype="datetime64[us]",
    )


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _private_sqlite_file(path: Path) -> None:
    """Create a SQLite database file 0600 (in a folder created 0700) before SQLite opens it:
    SQLite gives the -wal and -shm files the mode of the database file, so they are private
    too, whatever the umask. A file that exists keeps its mode; a warning says how to fix one
    that other users can read."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            logger.warning(
                "the database %s is readable by other users; run `chmod 600 %s*`", path, path
            )


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_file(Path(path))
        # a pool as big as the server's thread pool: an overflow connection is closed after use,
        # and reopening one (with its PRAGMAs) per request costs more than the query
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=40,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # take over transaction control so writers can BEGIN IMMEDIATE (no upgrade deadlocks)
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("modelmint_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ConfigError(
        f"unsupported database URL '{url.split(':', 1)[0]}:...'; use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB in MODELMINT_DATABASE_URL"
    )


class _WriterLock:
    """A thread lock plus, for a file database, an exclusive flock on ``<db>.writer-lock``
    (POSIX; elsewhere the thread lock alone, and SQLite's busy timeout between processes)."""

    def __init__(self, url: str) -> None:
        self._thread = threading.Lock()
        path = url.split("///", 1)[-1]
        self._path = Path(path + ".writer-lock") if path and path != ":memory:" else None
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread.acquire()
        if self._path is None or fcntl is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            self._path = None  # a filesystem without locks: SQLite's busy timeout decides

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None and self._path is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        self._migrated = False
        self._lock = threading.Lock()
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler in steps of up to 100 ms. Writers queue on this lock instead
        # (woken the moment it is free): a thread lock in-process, and across server processes
        # an flock on a file beside the database.
        self._write_lock = _WriterLock(url) if self.dialect == "sqlite" else None

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        serial = self._write_lock if write and self._write_lock else contextlib.nullcontext()
        try:
            with (
                serial,
                self.engine.connect().execution_options(modelmint_write=write) as conn,
                conn.begin(),
            ):
                yield conn
        except OperationalError as exc:
            raise ServiceUnavailable(
                f"the database is not reachable ({type(exc.orig).__name__}); check "
                "MODELMINT_DATABASE_URL and that the server is running"
            ) from exc

    def tuning_storage(self) -> Any:
        """Optuna's storage for hyperparameter studies, kept beside ours but apart from it
        (Optuna runs its own Alembic history): SQLite gets a sibling file
        ``<db>-tuning.sqlite``; PostgreSQL gets the schema ``<current schema>_optuna`` in the
        same database."""
        import optuna

        url = make_url(self.url)
        if self.dialect == "sqlite":
            path = Path(url.database or "modelmint.sqlite")
            tuning_path = path.with_name(path.stem + "-tuning.sqlite")
            _private_sqlite_file(tuning_path)
            return f"sqlite:///{tuning_path}"
        with self.engine.begin() as c:
            schema = c.exec_driver_sql("SELECT current_schema()").scalar() or "public"
            tuning = f"{schema}_optuna"
            c.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{tuning}"')
        return optuna.storages.RDBStorage(
            self.url,
            engine_kwargs={"connect_args": {"options": f"-csearch_path={tuning}"}},
        )

    def read(self) -> AbstractContextManager[Connection]:
        """A read transaction (SQLite: deferred BEGIN, so readers never block each other)."""
        return self._transaction(write=False)

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        return self._transaction(write=True)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent, safe from several processes)."""
        with self._lock:
            if self._migrated:
                return
            from alembic import command
            from alembic.config import Config
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            head = ScriptDirectory.from_config(cfg).get_current_head()
            try:
                with self.engine.connect() as conn:
                    current = MigrationContext.configure(conn).get_current_revision()
                if current != head:
                    with self.engine.connect().execution_options(modelmint_write=True) as conn:
                        with conn.begin():
                            if self.dialect == "postgresql":
                                conn.exec_driver_sql(
                                    f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})"
                                )
                            cfg.attributes["connection"] = conn
                            command.upgrade(cfg, "head")
                        logger.info("database migrated to %s", head)
            except OperationalError as exc:
                raise ServiceUnavailable(
                    f"cannot open the database {self.engine.url.render_as_string()}: "
                    f"{exc.orig}; check MODELMINT_DATABASE_URL or MODELMINT_HOME"
                ) from exc
            self._migrated = True

    def dispose(self) -> None:
        self.engine.dispose()
