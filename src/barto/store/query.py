"""``barto-cli query``: one statement, read-only by the database itself, bounded in time and rows.

The regular expression in :mod:`barto.store.readonly` only words common mistakes kindly; what
makes a query harmless is where it runs:

- **SQLite**: a fresh connection opened read-only (``mode=ro``) with ``query_only``, an
  authorizer that allows reading tables and calling functions and denies everything else
  (``load_extension`` included), and a progress handler that stops the statement at its
  deadline. Python's sqlite3 refuses a second statement.
- **PostgreSQL**: a fresh session as a login role that may only ``SELECT`` barto's tables (no
  superuser, so no ``pg_read_file``, ``lo_import``, ``COPY ... PROGRAM`` or ``dblink``), in a
  read-only transaction with ``statement_timeout`` that is rolled back, never committed (a
  read-only transaction still lets ``lo_create()`` write); a prepared statement holds one
  statement.
- **MariaDB**: a fresh session as a user with ``SELECT`` on barto's schema only (no ``FILE``,
  so no ``LOAD_FILE`` or ``INTO OUTFILE``; no ``SHUTDOWN``), multi-statements switched off on
  the connection, a read-only transaction and ``max_statement_time``.

Every session is new (a query that changes its own session settings changes nothing for the
next) and is closed afterwards. A statement past its time is cancelled by the database, and if
it is still running a little later, killed from barto's own connection: never abandoned. At most
``concurrent`` queries run at once; one more is refused as busy rather than queued.

bartos creates the role itself (``barto_query``) when its own user may; otherwise ``[query]
url`` names one the operator made (docs/security.md), and until then ``query`` answers that it
is unavailable, saying why.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from barto.errors import Invalid, TimedOut, Unavailable
from barto.store.tables import VIEWS, metadata

log = logging.getLogger("barto.store.query")

READER = "barto_query"
_KILL_GRACE = 2.0  # seconds after the database's own limit before barto kills the statement
_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, 33}  # 33: RECURSIVE
_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


class QueryRows(msgspec.Struct, frozen=True, kw_only=True):
    """What a query found: column names, at most the cap's rows, and whether more matched."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class Queries:
    """Runs queries for one store, within the limits given per call."""

    def __init__(self, run: Callable[..., Any] | None, problem: str, concurrent: int = 2) -> None:
        self._run = run  # None: no read-only connection could be made; ``problem`` says why
        self._problem = problem
        self._slots = asyncio.Semaphore(concurrent)

    async def query(self, sql: str, *, max_rows: int, seconds: float) -> QueryRows:
        """Run ``sql`` read-only.

        Raises:
            Invalid: the database refused or failed the statement (its own message).
            TimedOut: it ran longer than ``seconds``.
            Unavailable: no read-only connection is configured, or too many queries run now.
        """
        if self._run is None:
            raise Unavailable("query_unavailable", self._problem)
        if self._slots.locked():
            raise Unavailable("query_busy", "other queries are running; try again when they end")
        async with self._slots:
            result: QueryRows = await self._run(sql, max_rows, seconds)
            return result


# -- SQLite -----------------------------------------------------------------------------------


def sqlite_queries(path: str, concurrent: int) -> Queries:
    """Queries on the SQLite file at ``path``."""
    if not path or path == ":memory:":
        return Queries(None, "an in-memory database cannot be opened a second time for queries")

    async def run(sql: str, max_rows: int, seconds: float) -> QueryRows:
        stop = threading.Event()
        try:
            return await asyncio.to_thread(_sqlite_run, path, sql, max_rows, time.monotonic() + seconds, stop)
        except sqlite3.OperationalError as error:
            if str(error) == "interrupted":
                raise TimedOut("query_timeout", f"the query ran longer than {seconds:g} s and was stopped") from None
            raise Invalid("query_failed", str(error)) from None
        except sqlite3.Error as error:  # DatabaseError "not authorized", ProgrammingError two statements
            raise Invalid("query_failed", str(error)) from None
        finally:
            stop.set()  # a cancelled call: the statement stops at its next progress check

    return Queries(run, "", concurrent)


def _sqlite_run(path: str, sql: str, max_rows: int, deadline: float, stop: threading.Event) -> QueryRows:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_sqlite_authorize)
        conn.set_progress_handler(lambda: int(stop.is_set() or time.monotonic() > deadline), 1000)
        cursor = conn.execute(sql)
        rows = [list(row) for row in cursor.fetchmany(max_rows + 1)]
        columns = [column[0] for column in cursor.description or ()]
    finally:
        conn.close()
    return QueryRows(columns=columns, rows=rows[:max_rows], truncated=len(rows) > max_rows)


def _sqlite_authorize(action: int, first: str | None, *_: Any) -> int:
    if action not in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (first or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# -- PostgreSQL and MariaDB -----------------------------------------------------------------------


async def server_queries(engine: AsyncEngine, url: URL, reader: str | None, concurrent: int) -> Queries:
    """Queries on PostgreSQL or MariaDB as the read-only user ``reader`` (a URL), or as
    ``barto_query``, made now if the store's own user may."""
    backend = url.get_backend_name()
    if reader is not None:
        as_reader = make_url(reader)
    else:
        try:
            as_reader = await _make_reader(engine, url)
        except Exception as error:  # the database's refusal, whatever the driver calls it
            problem = (
                f"bartos could not create the read-only user {READER!r} ({getattr(error, 'orig', error)}); "
                "create one and name it in [query] url (docs/security.md)"
            )
            log.warning("query is unavailable: %s", problem)
            return Queries(None, problem)
    run = _postgres_runner(engine, as_reader) if backend == "postgresql" else _mariadb_runner(engine, as_reader)
    return Queries(run, "", concurrent)


def reader_password(url: URL) -> str:
    """The password bartos gives ``barto_query``: derived from its own credentials, so that every
    bartos on one database server derives the same one (the user is the server's, not one
    database's) and nobody without those credentials can."""
    key = f"{url.username}:{url.password or ''}@{url.host}:{url.port}".encode()
    return hmac.new(key, READER.encode(), hashlib.sha256).hexdigest()


async def _make_reader(engine: AsyncEngine, url: URL) -> URL:
    password = reader_password(url)
    tables = [*sorted(metadata.tables), *VIEWS]
    async with engine.begin() as conn:
        if url.get_backend_name() == "postgresql":
            # A DO block: two bartos starting at once must not both try CREATE.
            await conn.execute(
                text(
                    "DO $$ BEGIN "
                    f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') "
                    f"THEN CREATE ROLE {READER}; END IF; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                )
            )
            await conn.execute(
                text(
                    f"ALTER ROLE {READER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                    f"NOINHERIT PASSWORD '{password}'"
                )
            )
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            await conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {READER}'))
            for table in tables:
                await conn.execute(text(f'GRANT SELECT ON "{schema}"."{table}" TO {READER}'))
        else:
            account = f"'{READER}'@'%'"
            found = f"SELECT 1 FROM mysql.user WHERE User = '{READER}' AND Host = '%'"
            if not (await conn.execute(text(found))).first():  # IF NOT EXISTS would warn when it is
                await conn.execute(text(f"CREATE USER {account} IDENTIFIED BY '{password}'"))
            await conn.execute(text(f"ALTER USER {account} IDENTIFIED BY '{password}'"))
            await conn.execute(text(f"GRANT SELECT ON `{url.database}`.* TO {account}"))
    log.info("query runs as the read-only database user %s", READER)
    return url.set(username=READER, password=password)


def _postgres_runner(engine: AsyncEngine, reader: URL) -> Callable[..., Any]:
    import asyncpg

    async def run(sql: str, max_rows: int, seconds: float) -> QueryRows:
        settings = {"default_transaction_read_only": "on", "statement_timeout": str(max(1, int(seconds * 1000)))}
        try:
            conn = await asyncpg.connect(_dsn(reader, "postgresql"), server_settings=settings, timeout=10)
        except (OSError, asyncpg.PostgresError) as error:
            raise Unavailable("query_unavailable", f"cannot connect as the read-only user: {error}") from None
        pid = conn.get_server_pid()
        try:
            async with asyncio.timeout(seconds + _KILL_GRACE):
                # Never committed: a read-only transaction still lets lo_create() through, say.
                await conn.execute("BEGIN TRANSACTION READ ONLY")
                statement = await conn.prepare(sql)
                cursor = await statement.cursor()
                rows = [list(row.values()) for row in await cursor.fetch(max_rows + 1)]
                columns = [attribute.name for attribute in statement.get_attributes()]
                await conn.execute("ROLLBACK")
        except asyncpg.QueryCanceledError:
            raise TimedOut("query_timeout", f"the query ran longer than {seconds:g} s and was cancelled") from None
        except TimeoutError:
            await _kill(engine, f"SELECT pg_cancel_backend({int(pid)})")
            raise TimedOut("query_timeout", f"the query ran longer than {seconds:g} s and was cancelled") from None
        except asyncpg.PostgresError as error:
            raise Invalid("query_failed", str(error)) from None
        finally:
            conn.terminate()
        return QueryRows(columns=columns, rows=rows[:max_rows], truncated=len(rows) > max_rows)

    return run


def _mariadb_runner(engine: AsyncEngine, reader: URL) -> Callable[..., Any]:
    import asyncmy
    from asyncmy.constants.COMMAND import COM_SET_OPTION
    from asyncmy.cursors import SSCursor

    async def connect() -> Any:
        conn = await asyncmy.connect(
            host=reader.host or "127.0.0.1",
            port=reader.port or 3306,
            user=reader.username or "",
            password=reader.password or "",
            database=reader.database or "",
            connect_timeout=10,
        )
        # asyncmy always asks for multi-statements; COM_SET_OPTION(MULTI_STATEMENTS_OFF) undoes it.
        raw: Any = conn  # private API, pinned by tests/integration/test_query.py
        await raw._execute_command(COM_SET_OPTION, b"\x01\x00")
        await raw.read_packet()
        return conn

    async def run(sql: str, max_rows: int, seconds: float) -> QueryRows:
        try:
            conn = await connect()
        except (OSError, asyncmy.errors.Error) as error:
            raise Unavailable("query_unavailable", f"cannot connect as the read-only user: {error}") from None
        thread = conn.server_thread_id[0]
        try:
            async with asyncio.timeout(seconds + _KILL_GRACE), conn.cursor(SSCursor) as cursor:
                await cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
                await cursor.execute("START TRANSACTION READ ONLY")
                await cursor.execute(sql)
                rows = [list(row) for row in await cursor.fetchmany(max_rows + 1)]
                columns = [column[0] for column in cursor.description or ()]
            async with asyncio.timeout(_KILL_GRACE), conn.cursor() as cursor:  # never committed
                await cursor.execute("ROLLBACK")
        except TimeoutError:
            await _kill(engine, f"KILL QUERY {int(thread)}")
            raise TimedOut("query_timeout", f"the query ran longer than {seconds:g} s and was killed") from None
        except asyncmy.errors.Error as error:
            code = error.args[0] if error.args else 0
            if code == 1969:  # max_statement_time exceeded
                raise TimedOut("query_timeout", f"the query ran longer than {seconds:g} s and was stopped") from None
            raise Invalid("query_failed", str(error.args[1] if len(error.args) > 1 else error)) from None
        finally:
            conn.close()
        return QueryRows(columns=columns, rows=rows[:max_rows], truncated=len(rows) > max_rows)

    return run


async def _kill(engine: AsyncEngine, statement: str) -> None:
    """Stop a statement that outlived its limit, from barto's own connection (best effort: it is
    logged when even that fails)."""
    try:
        async with asyncio.timeout(5), engine.connect() as conn:
            await conn.execute(text(statement))
    except Exception:
        log.exception("could not stop a query that ran past its limit (%s)", statement)


def _dsn(url: URL, scheme: str) -> str:
    return url.set(drivername=scheme).render_as_string(hide_password=False)
