"""The only package that speaks SQL: tables, migrations, queries, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from barto.store import migrate
from barto.store._dialect import async_url, create_engine
from barto.store.query import Queries, QueryRows, server_queries, sqlite_queries
from barto.store.records import Batch, Claim, ScheduleRow
from barto.store.retention import Retention
from barto.store.sql import Store, StoreError

__all__ = ["Batch", "Claim", "QueryRows", "Retention", "ScheduleRow", "Store", "StoreError", "open_store"]


@asynccontextmanager
async def open_store(
    url: str, *, upgrade: bool = True, query_url: str | None = None, concurrent_queries: int = 2
) -> AsyncIterator[Store]:
    """Open the database at ``url``, migrate it to the newest schema, and close it on exit.
    ``query_url`` names the read-only user ``query`` runs as (barto.store.query); without
    ``upgrade`` (``bartos migrate``) no query user is prepared.

    Raises:
        StoreError: for an unsupported URL or a schema newer than this barto knows.
    """
    try:
        parsed = async_url(url)
    except ValueError as error:
        raise StoreError(str(error)) from None
    engine = create_engine(parsed)
    reader = _reader(parsed)
    lease = create_engine(parsed, pool_size=1)  # the leader lease waits behind nobody's queries
    try:
        await _prepare(engine, parsed, upgrade=upgrade)
        if parsed.get_backend_name() == "sqlite":
            queries = sqlite_queries(parsed.database or "", concurrent_queries)
        elif not upgrade:
            queries = Queries(None, "this store was opened to migrate it, not to serve queries")
        else:
            queries = await server_queries(engine, parsed, query_url, concurrent_queries)
        yield Store(engine, reader, lease, queries)
    finally:
        for pool in (lease, reader, engine):
            await pool.dispose()


async def _prepare(engine: AsyncEngine, url: URL, *, upgrade: bool) -> None:
    """Check the schema's revision and migrate it; a database we cannot reach is a StoreError."""
    try:
        current = await migrate.current(engine)
        if current is not None and not migrate.known(current):
            raise StoreError(
                f"the database schema is at revision {current}, newer than this barto knows "
                f"(it knows up to {migrate.head()}); run the barto that migrated it, or a newer one"
            )
        if upgrade:
            await migrate.upgrade(engine)
    except (SQLAlchemyError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        where = url.render_as_string(hide_password=True)
        raise StoreError(f"cannot use the database {where}: {reason}") from None


def _reader(url: URL) -> AsyncEngine:
    """A second engine on the same database whose sessions cannot write (reads and ``query``)."""
    if url.get_backend_name() == "sqlite":
        url = url.set(database=f"file:{url.database}", query={"mode": "ro", "uri": "true"})
    return create_engine(url, read_only=True)
