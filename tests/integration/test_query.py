"""``query`` is read-only by the database itself: hostile statements on the three real servers.

Each statement goes to the store directly, past the SELECT gate (which is only a friendly early
message): what stops it must be the database. After each, nothing stored has changed and the
store still answers.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from barto.errors import BartoError, Invalid, TimedOut, Unavailable
from barto.store import Store
from tests.integration.test_store import claim_one

pytestmark = pytest.mark.anyio

BOUND = 12.0  # no hostile statement may hold a query longer than this (limit 1 s + kill grace)

# (backend or "*", statement, what it must get): "invalid", "timeout", "invalid|timeout", or rows.
HOSTILE: list[tuple[str, str, object]] = [
    ("*", "DELETE FROM runs", "invalid"),
    ("*", "UPDATE runs SET state = 'failed'", "invalid"),
    ("*", "SELECT 1; DELETE FROM runs", "invalid"),
    ("*", "SELECT 1 -- x\n; DELETE FROM runs", "invalid"),
    ("*", "DROP TABLE runs", "invalid"),
    ("*", "WITH x AS (DELETE FROM runs RETURNING id) SELECT * FROM x", "invalid"),
    ("sqlite", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c", "timeout"),
    ("postgresql", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c", "timeout"),
    # MariaDB stops a recursion itself at cte_max_recursion_depth (1000): rows, bounded.
    ("mysql", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c", [[1001]]),
    ("sqlite", "SELECT load_extension('/tmp/nothing')", "invalid"),
    ("sqlite", "ATTACH DATABASE '/tmp/barto-attached.db' AS x", "invalid"),
    ("sqlite", "PRAGMA writable_schema = 1", "invalid"),
    ("sqlite", "PRAGMA query_only = 0", "invalid"),
    ("sqlite", "VACUUM INTO '/tmp/barto-copy.db'", "invalid"),
    (
        "sqlite",
        "SELECT count(*) FROM runs a, runs b, runs c, (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
        "SELECT n + 1 FROM c WHERE n < 100000000) SELECT n FROM c)",
        "timeout",
    ),
    ("postgresql", "SELECT pg_sleep(30)", "timeout"),
    ("postgresql", "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)", "timeout"),
    ("postgresql", "SELECT pg_read_file('/etc/passwd')", "invalid"),
    ("postgresql", "SELECT pg_ls_dir('/')", "invalid"),
    ("postgresql", "SELECT lo_import('/etc/passwd')", "invalid"),
    ("postgresql", "SELECT lo_create(0)", "invalid|ok"),  # it runs; rolled back, nothing stays (below)
    ("postgresql", "COPY runs TO PROGRAM 'id'", "invalid"),
    ("postgresql", "COPY (SELECT 1) TO '/tmp/barto-copy'", "invalid"),
    ("postgresql", "SELECT * FROM dblink('dbname=test', 'DELETE FROM runs') AS t(x int)", "invalid"),
    ("postgresql", "SELECT nextval('runs_id_seq')", "invalid"),
    ("postgresql", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "invalid|ok"),
    ("postgresql", "SELECT set_config('default_transaction_read_only', 'off', false)", "invalid|ok"),
    ("postgresql", "DELETE FROM runs", "invalid"),  # after the flips above: each query is a fresh session
    ("postgresql", "CREATE TABLE stolen AS SELECT * FROM runs", "invalid"),
    ("mysql", "SELECT SLEEP(30)", "timeout"),
    ("mysql", "SET STATEMENT max_statement_time = 0 FOR SELECT SLEEP(30)", "timeout"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", [[None]]),
    ("mysql", "SELECT * FROM runs INTO OUTFILE '/tmp/barto-outfile'", "invalid"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE runs", "invalid"),
    ("mysql", "SELECT 1 /*! ; DELETE FROM runs */", "invalid"),
    ("mysql", "SELECT 1 #\n; DELETE FROM runs", "invalid"),
    ("mysql", "SELECT 1; SHUTDOWN", "invalid"),
    ("mysql", "SHUTDOWN", "invalid"),
    ("mysql", "SET SESSION TRANSACTION READ WRITE", "invalid|ok"),
    ("mysql", "DELETE FROM runs", "invalid"),  # after the flip above: each query is a fresh session
    ("mysql", "SELECT * FROM mysql.user", "invalid"),
    ("mysql", "CREATE TABLE stolen AS SELECT * FROM runs", "invalid"),
    ("mysql", "GRANT ALL ON *.* TO 'barto_query'@'%'", "invalid"),
]


def _cases(backend: str) -> list[tuple[str, object]]:
    return [(sql, want) for where, sql, want in HOSTILE if where in ("*", backend)]


async def test_hostile_statements_are_refused_by_the_database(store: Store) -> None:
    for index in range(3):
        await claim_one(store, f"s{index}")
    before = [r.id for r in await store.runs()]
    failures = []
    for sql, want in _cases(store.dialect):
        started = time.monotonic()
        outcome = await _outcome(store, sql)
        took = time.monotonic() - started
        label = outcome.split(":")[0] if isinstance(outcome, str) else "ok"
        ok = outcome == want if isinstance(want, list) else label in str(want).split("|")
        if not ok or took > BOUND:
            failures.append((sql, want, outcome, round(took, 1)))
        assert [r.id for r in await store.runs()] == before, f"{sql!r} changed the runs"
    assert not failures, failures
    assert (await store.query("SELECT count(*) FROM runs", limit=10, seconds=5)).rows == [[3]]
    if store.dialect == "postgresql":  # what a statement did was never committed
        assert (await store.query("SELECT count(*) FROM pg_largeobject_metadata", limit=1, seconds=5)).rows == [[0]]


async def _outcome(store: Store, sql: str) -> object:
    try:
        found = await store.query(sql, limit=100, seconds=1.0)
    except TimedOut as error:
        return f"timeout: {error}"
    except Invalid as error:
        return f"invalid: {error}"
    return found.rows if found.rows else "ok"


async def test_a_query_reads_barto_tables_and_says_when_it_was_cut(store: Store) -> None:
    for index in range(3):
        await claim_one(store, f"s{index}")
    found = await store.query("SELECT id, schedule FROM runs ORDER BY id", limit=2, seconds=5)
    assert found.columns == ["id", "schedule"]
    assert len(found.rows) == 2
    assert found.truncated
    whole = await store.query("SELECT id FROM runs", limit=3, seconds=5)
    assert len(whole.rows) == 3
    assert not whole.truncated


async def test_too_many_queries_at_once_are_refused_not_queued(store: Store) -> None:
    slow = {
        "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 100000000) "
        "SELECT count(*) FROM c",
        "postgresql": "SELECT pg_sleep(3)",
        "mysql": "SELECT SLEEP(3)",
    }[store.dialect]

    async def one() -> str:
        try:
            await store.query(slow, limit=1, seconds=2.0)
        except Unavailable as error:
            return error.code
        except BartoError as error:
            return type(error).__name__
        return "ran"

    outcomes = await asyncio.gather(*(one() for _ in range(3)))
    assert outcomes.count("query_busy") == 1, outcomes  # two run (the default), the third is told
    assert (await store.query("SELECT 1", limit=1, seconds=5)).rows == [[1]]  # and the store serves on
