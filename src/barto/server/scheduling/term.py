"""A view of the schedules: the catalog (the file's and the API's) and a scheduler loaded from it.

A standby holds the view of its own start; each takeover builds a new one from the store, which
the leader task owns and runs for as long as the term lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from barto.model import ScheduleRecord
from barto.server.scheduling.catalog import Catalog
from barto.server.scheduling.scheduler import Scheduler


@dataclass
class Term:
    """The catalog and the scheduler of one term (or of a standby's view)."""

    catalog: Catalog
    scheduler: Scheduler

    def apply(self, default_tz: str) -> None:
        """Give the scheduler the catalog's schedules (after a reload or an API change)."""
        catalog = self.catalog
        self.scheduler.load(catalog.merged(), default_tz, datetime.now(UTC), api=catalog.api_keys())

    def records(self) -> list[ScheduleRecord]:
        """The live schedules with their next fire times."""
        return self.scheduler.records()
