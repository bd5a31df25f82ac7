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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from barto.errors import Unavailable

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
    """Bring the schema to :func:`head`, in one transaction.

    On SQLite, foreign keys are off meanwhile, as SQLite's own procedure for changing a table
    asks: a migration that builds a table again drops the old one, and with foreign keys on
    that would delete the rows that refer to it (a run's output). The pragma only takes effect
    outside a transaction; the references are checked before the commit.
    """
    with _quiet_driver():
        async with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                await _foreign_keys(connection, on=False)
            try:
                async with connection.begin():
                    await connection.run_sync(lambda c: command.upgrade(_config(c), "head"))
                    if sqlite and (await connection.exec_driver_sql("PRAGMA foreign_key_check")).first():
                        raise Unavailable("a migration left runs' output pointing at no run; nothing was changed")
            finally:
                if sqlite:
                    await _foreign_keys(connection, on=True)


async def _foreign_keys(connection: AsyncConnection, *, on: bool) -> None:
    await connection.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    await connection.commit()


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
