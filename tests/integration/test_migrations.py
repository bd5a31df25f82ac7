"""The migrations produce exactly the tables of store/tables.py, on every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from barto.store import open_store
from barto.store.tables import metadata
from tests.databases import BACKENDS, fresh_database

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
