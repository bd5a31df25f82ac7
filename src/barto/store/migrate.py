"""Running the Alembic migrations that ship inside the package."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this version of barto knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None  # the package ships at least one migration
    return revision


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def known(revision: str) -> bool:
    """Whether this version of barto ships ``revision`` (False: the database is newer than us)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to :func:`head`."""
    with _quiet_driver():
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(_config(c), "head"))


@contextmanager
def _quiet_driver() -> Iterator[None]:
    """MariaDB answers every named primary key with a note ("Name 'pk_runs' ignored for PRIMARY
    key") that asyncmy logs as a warning; while migrating, those notes are noise to the user.
    At other times its warnings (a truncated value, say) are kept."""
    driver = logging.getLogger("asyncmy")
    level = driver.level
    driver.setLevel(logging.ERROR)
    try:
        yield
    finally:
        driver.setLevel(level)
