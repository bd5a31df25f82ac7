"""The migrations produce exactly the tables of store/tables.py, on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, text

from barto.store import migrate, open_store
from barto.store.tables import metadata
from tests.databases import BACKENDS, fresh_database
from tests.e2e.harness import BIN

pytestmark = pytest.mark.anyio


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_migrated_schema_is_the_table_definitions(backend: str, tmp_path: Path) -> None:
    async with (
        fresh_database(backend, tmp_path) as url,
        open_store(url) as store,
        store.engine.connect() as connection,
    ):
        assert await connection.run_sync(_differences) == []


def bartos(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "bartos"), "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migrate_check_and_a_schema_newer_than_ours(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as url:
        config = tmp_path / "bartos.toml"
        config.write_text(f"[database]\nurl = '{url}'\n")
        behind = bartos(config, "migrate", "--check")
        assert (behind.returncode, behind.stdout) == (
            1,
            f"schema is behind: at nothing (empty database), this barto needs {migrate.head()}\n",
        )
        migrated = bartos(config, "migrate")
        assert migrated.stdout == f"schema migrated from nothing to {migrate.head()}\n"
        assert migrated.stderr == ""  # MariaDB's notes on primary key names are not the user's business
        assert bartos(config, "migrate", "--check").returncode == 0
        async with open_store(url, upgrade=False) as store, store.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        refused = bartos(config, "-t", str(tmp_path / "bartos.log"))
        assert refused.returncode == 1
        assert "schema is at revision 0999, newer than this barto knows" in refused.stderr
        assert "Traceback" not in refused.stderr


async def test_a_sqlite_store_leaves_nothing_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-only engine's URL is ``file:/path?mode=ro``: it once made a folder named
    ``file:`` (holding the database's directory path) wherever bartos was started."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    async with open_store(f"sqlite:///{tmp_path}/data/bartos.db") as store:
        assert (await store.query("SELECT 1", limit=1, seconds=5)).rows == [[1]]
    assert list(here.iterdir()) == []
    assert (tmp_path / "data" / "bartos.db").exists()


def test_sqlite_runs_rebuilt_for_autoincrement_keep_their_ids_and_output(tmp_path: Path) -> None:
    """Migration 0010 builds SQLite's runs table again; the rows that refer to it (output) and
    the views that read it must come through, and foreign keys must be on again after."""
    url = f"sqlite:///{tmp_path}/barto.db"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate._config(connection), "0009")
        connection.execute(text(_OLD_RUN))
        connection.execute(text(_OLD_LINE))
    engine.dispose()

    async def upgraded() -> tuple[list[Any], list[Any], int]:
        async with open_store(url) as store, store.engine.connect() as connection:
            output = (await connection.execute(text("SELECT cmd_uuid, data FROM output"))).all()
            ids = (await connection.execute(text("SELECT id FROM runs"))).all()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
            return list(output), list(ids), foreign_keys

    output, ids, foreign_keys = asyncio.run(upgraded())
    assert (output, ids, foreign_keys) == ([("u-7", "kept")], [(7,)], 1)
    schema = sqlite3.connect(tmp_path / "barto.db").execute("SELECT sql FROM sqlite_master WHERE name = 'runs'")
    assert "AUTOINCREMENT" in schema.fetchone()[0]


_AT = "2026-11-22 10:00:00.000000"
_OLD_RUN = (
    'INSERT INTO runs (id, uuid, schedule, worker, slot, attempt, "trigger", state, lines, created_at) '
    f"VALUES (7, 'u-7', 's', 'w', '{_AT}', 1, 'schedule', 'pending', 0, '{_AT}')"
)
_OLD_LINE = f"INSERT INTO run_output (run_id, seq, stream, ts, data) VALUES (7, 1, 'stdout', '{_AT}', 'kept')"
