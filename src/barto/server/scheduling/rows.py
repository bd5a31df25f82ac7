"""Schedules as the store keeps them (one row each, ``source`` config or api)."""

from __future__ import annotations

from barto.config.server import ScheduleDef
from barto.server.scheduling.catalog import Groups
from barto.store import ScheduleRow


def schedule_rows(groups: Groups, default_tz: str) -> list[ScheduleRow]:
    """The config file's schedules as store rows."""
    return [schedule_row(worker, s, default_tz) for worker, group in groups.items() for s in group.schedules]


def schedule_row(worker: str, s: ScheduleDef, default_tz: str, source: str = "config") -> ScheduleRow:
    """One schedule as a store row."""
    return ScheduleRow(
        worker=worker,
        name=s.name,
        calendar=s.expression,
        timezone=s.timezone or default_tz,
        cmds=s.cmds,
        env=s.env,
        cwd=s.cwd,
        timeout_seconds=s.timeout,
        enabled=s.enabled,
        source=source,
    )
