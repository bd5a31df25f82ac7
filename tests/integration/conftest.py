"""The store fixture every integration test shares: one fresh database per test, on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from barto.store import Store, open_store
from tests.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on a fresh database of each backend (SQLite, PostgreSQL, MariaDB)."""
    async with fresh_database(request.param, tmp_path) as url, open_store(url) as opened:
        yield opened
