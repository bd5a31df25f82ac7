from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_or_skip
from tests.databases import create_database, drop_database
from tests.e2e.harness import Barto
from tests.e2e.rqkit import Rq, reachable


@pytest.fixture
def barto(tmp_path: Path) -> Iterator[Barto]:
    """A server, workers and CLI in ``tmp_path``, all stopped after the test."""
    env = Barto(tmp_path)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def on_server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Barto]:
    """A Barto whose servers store in a fresh database on the real server of that backend."""
    url = asyncio.run(create_database(request.param, tmp_path))
    barto = Barto(tmp_path, database_url=url)
    try:
        yield barto
    finally:
        barto.close()
        asyncio.run(drop_database(request.param, url))


@pytest.fixture
def on_postgresql(tmp_path: Path) -> Iterator[Barto]:
    """A Barto on a fresh PostgreSQL database: for tests of several servers whose backend is not
    what they test (the store's own tests run every backend)."""
    url = asyncio.run(create_database("postgresql", tmp_path))
    barto = Barto(tmp_path, database_url=url)
    try:
        yield barto
    finally:
        barto.close()
        asyncio.run(drop_database("postgresql", url))


@pytest.fixture
def rq(barto: Barto) -> Iterator[Rq]:
    """A Redis database of the test's own on this machine's Redis, emptied before and after."""
    require_or_skip(reachable(6379), "Redis on 127.0.0.1:6379")
    made = Rq(barto)
    made.redis.flushdb()
    try:
        yield made
    finally:
        made.close()
