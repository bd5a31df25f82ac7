"""Throwaway databases on the real servers of this machine: one fresh database per test.

SQLite needs nothing; PostgreSQL (127.0.0.1:5432, trust auth, user ``postgres``) and MariaDB
(127.0.0.1:3306, ``root`` without a password) must be running, see ARCHITECTURE.md. Locally a
missing server skips its tests loudly; with CI=true it fails them (``require_or_skip``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncmy
import asyncpg

from tests.conftest import require_or_skip

BACKENDS = ("sqlite", "postgresql", "mariadb")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLAlchemy URL of an empty database on ``backend``, dropped afterwards."""
    url = await create_database(backend, tmp_path)
    try:
        yield url
    finally:
        await drop_database(backend, url)


async def create_database(backend: str, tmp_path: Path) -> str:
    """Create an empty database on ``backend``; its SQLAlchemy URL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/barto.db"
    name = f"barto_{uuid.uuid4().hex[:12]}"
    if backend == "postgresql":
        await _postgres(f"CREATE DATABASE {name}", backend)
        return f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    await _mariadb(f"CREATE DATABASE {name}", backend)
    return f"mysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{name}"


async def drop_database(backend: str, url: str) -> None:
    """Drop a database :func:`create_database` made (SQLite files go with the test's directory)."""
    name = url.rsplit("/", 1)[1]
    if backend == "postgresql":
        await _postgres(f"DROP DATABASE {name} WITH (FORCE)", backend)
    elif backend != "sqlite":
        await _mariadb(f"DROP DATABASE {name}", backend)


async def _postgres(sql: str, backend: str) -> None:
    try:
        conn = await asyncpg.connect(**PG)
    except OSError:
        require_or_skip(False, f"{backend} at {PG['host']}:{PG['port']}")
        return
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _mariadb(sql: str, backend: str) -> None:
    try:
        conn = await asyncmy.connect(**MARIADB)
    except OSError:
        require_or_skip(False, f"{backend} at {MARIADB['host']}:{MARIADB['port']}")
        return
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        conn.close()
