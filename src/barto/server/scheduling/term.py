"""A view of the schedules: the catalog (the file's and the API's) and a scheduler loaded from it.

A standby holds the view of its own start; each takeover builds a new one from the store, which
the leader task owns and runs for as long as the term lasts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from barto.config.server import ScheduleDef
from barto.model import ScheduleRecord
from barto.server.scheduling.catalog import Catalog
from barto.server.scheduling.rows import schedule_row
from barto.server.scheduling.scheduler import Scheduler
from barto.store import Store


@dataclass
class Term:
    """The catalog and the scheduler of one term (or of a standby's view)."""

    catalog: Catalog
    scheduler: Scheduler

    def apply(self, default_tz: str) -> None:
        """Give the scheduler the catalog's schedules (after a reload or an API change)."""
        catalog = self.catalog
        self.scheduler.load(catalog.merged(), default_tz, datetime.now(UTC), api=catalog.api_keys())

    async def put_api(self, store: Store, worker: str, definitions: Iterable[ScheduleDef], default_tz: str) -> None:
        """Store API schedules, then run them (the database first: what runs is what a restart
        keeps). The caller checked them, and that the file does not define their names."""
        for definition in definitions:
            row = schedule_row(worker, definition, default_tz, source="api")
            await store.put_api_schedule(row, msgspec.to_builtins(definition))
            self.catalog.put(worker, definition)
        self.apply(default_tz)

    async def drop_api(self, store: Store, worker: str, names: Iterable[str], default_tz: str) -> list[str]:
        """Remove API schedules from the store, then from the scheduler: those there were."""
        dropped = [name for name in names if await store.delete_api_schedule(worker, name)]
        for name in dropped:
            self.catalog.remove(worker, name)
        self.apply(default_tz)
        return dropped

    def records(self) -> list[ScheduleRecord]:
        """The live schedules with their next fire times."""
        return self.scheduler.records()
