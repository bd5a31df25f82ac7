"""Everything that differs between SQLite, PostgreSQL and MariaDB, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, Table, event, insert
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "asyncmy", "mariadb": "asyncmy"}


def async_url(url: str) -> URL:
    """The URL with an async driver (``sqlite:///x`` -> ``sqlite+aiosqlite:///x``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}; use sqlite, postgresql or mysql/mariadb")
    if "+" not in parsed.drivername:  # no driver named: the default one is sync; use ours
        parsed = parsed.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    return parsed


def create_engine(url: URL, *, read_only: bool = False, pool_size: int = 5) -> AsyncEngine:
    """An engine with the per-backend session settings (SQLite: WAL, foreign keys, busy wait).

    ``read_only`` engines refuse every write in the database itself, not by our checks: SQLite
    ``query_only``, PostgreSQL ``default_transaction_read_only``, MariaDB read-only sessions.
    """
    backend = url.get_backend_name()
    if backend == "postgresql":
        settings = {"server_settings": {"default_transaction_read_only": "on"}} if read_only else {}
        return create_async_engine(url, pool_pre_ping=True, pool_size=pool_size, connect_args=settings)
    if backend != "sqlite":
        engine = create_async_engine(url, pool_pre_ping=True, pool_size=pool_size)
        if read_only:
            event.listen(engine.sync_engine, "connect", _mariadb_read_only)
        return engine
    if url.database and url.database != ":memory:" and not read_only:  # the reader's is a file: URI
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_size=pool_size)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas(read_only))
    return engine


def _mariadb_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION READ ONLY")
    cursor.close()


def _sqlite_pragmas(read_only: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.close()

    return on_connect


class DriverInsert:
    """An INSERT compiled once to the driver's own SQL, for rows the caller builds as tuples.

    The hot path of ingest: SQLAlchemy's per-row parameter processing costs more than SQLite's
    insert itself. Rows go to the driver's executemany as they are; values that need a
    conversion (timestamps) are converted by :meth:`bind`, with the column type's own bind
    processor, once per distinct value rather than once per row.
    """

    def __init__(self, statement: Insert, columns: Sequence[str], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        if list(compiled.positiontup or ()) != list(columns):
            raise ValueError(f"compiled INSERT binds {compiled.positiontup}, expected {list(columns)}")
        self.sql = compiled.string
        self._processors = {name: statement.table.c[name].type.bind_processor(dialect) for name in columns}

    def bind(self, column: str, value: Any) -> Any:
        """``value`` as the driver must receive it for ``column``."""
        process = self._processors[column]
        return value if process is None else process(value)


def insert_ignoring_duplicates(table: Table, dialect: str) -> Insert:
    """An INSERT that skips rows violating a unique constraint (idempotent ingest, slot claims)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")
