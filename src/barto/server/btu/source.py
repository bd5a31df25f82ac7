"""BTU's schedules, read from the Frappe site's MariaDB with BTU's own queries, and applied to
the leader's schedules as differences (docs/btu.md).

The queries are BTU's (``tabBTU Task Schedule``, its ``tabSingles`` join for the BTU
Configuration's ``cron_time_zone``, ``tabBTU Task`` for the function, its arguments and its
``max_task_duration``), with the name bound as a parameter instead of pasted in, and one query
for all rows instead of one per row. A schedule read becomes an API schedule of ``@rq`` marked
in its RQ meta (rows.MARK): the store keeps it across restarts and failovers, the scheduler
runs it like any other, and the next refresh knows which schedules are the table's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from barto.config.btu import BtuSettings
from barto.config.server import RqCall, ScheduleDef
from barto.rules import RQ_WORKER
from barto.server.btu.rows import MARK, BadRow, Row, schedule, task_call
from barto.server.scheduling.term import Term
from barto.store import Store

log = logging.getLogger("barto.server.btu")

_SELECT = """
SELECT TaskSchedule.name, TaskSchedule.task, TaskSchedule.task_description, TaskSchedule.enabled,
       TaskSchedule.queue_name, TaskSchedule.argument_overrides, TaskSchedule.cron_string,
       Configuration.value AS cron_time_zone,
       Task.function_string, Task.arguments, Task.max_task_duration
FROM `tabBTU Task Schedule` AS TaskSchedule
LEFT JOIN `tabSingles` AS Configuration
       ON Configuration.doctype = 'BTU Configuration' AND Configuration.`field` = 'cron_time_zone'
LEFT JOIN `tabBTU Task` AS Task ON Task.name = TaskSchedule.task
"""
ALL_ENABLED = text(_SELECT + "WHERE TaskSchedule.enabled = 1 ORDER BY TaskSchedule.name")
ONE = text(_SELECT + "WHERE TaskSchedule.name = :name LIMIT 1")
TASK = text(
    "SELECT name, desc_short, desc_long, arguments, function_string, max_task_duration "
    "FROM `tabBTU Task` WHERE name = :name LIMIT 1"
)  # the BTU CLI's own
ROWS_MAX = 1_000_000  # read in one refresh; past it the table is refused, not half-applied


class SourceError(Exception):
    """The table could not be read; nothing was changed."""


@dataclass
class Report:
    """What one refresh did."""

    at: datetime
    scope: str  # "all" or the one schedule asked for
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why
    error: str | None = None


@dataclass
class BtuSource:
    """The table, read by the leader every ``refresh_seconds`` and when a web server asks."""

    settings: BtuSettings
    default_tz: str
    last: Report | None = None
    _engine: AsyncEngine | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self, term: Term, store: Store) -> None:
        """Refresh every ``refresh_seconds`` for as long as this term lasts (its first at once)."""
        try:
            while True:
                await self.refresh(term, store)
                await asyncio.sleep(self.settings.refresh_seconds)
        finally:
            await self.close()

    async def refresh(self, term: Term, store: Store, only: str | None = None) -> Report:
        """Read the table (or the one row ``only``) and make our schedules agree with it."""
        async with self._lock:
            report = Report(datetime.now(UTC), only or "all")
            try:
                rows = await self._read(only)
            except SourceError as error:
                report.error = str(error)
                log.warning("BTU refresh (%s): %s; the schedules stay as they were", report.scope, error)
                self.last = report
                return report
            await self._apply(term, store, rows, only, report)
            _log(report)
            if only is None or self.last is None:
                self.last = report
            return report

    async def cancel(self, term: Term, store: Store, name: str) -> bool:
        """Stop the table's schedule ``name`` (exactly that name; BTU matched a prefix)."""
        async with self._lock:
            if name not in owned(term):
                return False
            dropped = await term.drop_api(store, RQ_WORKER, [name], self.default_tz)
            log.info("BTU Task Schedule %s cancelled", name)
            return bool(dropped)

    async def task(self, name: str) -> RqCall:
        """The RQ call of the BTU Task ``name`` (for BTU's ``queue-task-now``).

        Raises:
            SourceError: the table cannot be read.
            LookupError: there is no such task.
            BadRow: it cannot be enqueued.
        """
        found = await self._query(TASK, {"name": name})
        if not found:
            raise LookupError(f"no BTU Task named {name!r}")
        task = found[0]
        if not task["function_string"]:
            raise BadRow("function_string: none set")
        call = task_call(name, task["function_string"], task["arguments"], task["max_task_duration"], None)
        return msgspec.structs.replace(call, description=task["desc_short"] or None)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _read(self, only: str | None) -> list[Row]:
        found = await self._query(ONE if only else ALL_ENABLED, {"name": only} if only else {})
        return [Row(**row) for row in found]

    async def _query(self, query: TextClause, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if self.settings.database_url is None:
            raise SourceError("no database: set [btu] database_url (or the mysql_* keys of BTU's file)")
        if self._engine is None:
            url = make_url(self.settings.database_url)
            if "+" not in url.drivername:
                url = url.set(drivername="mysql+asyncmy")
            self._engine = create_async_engine(url, pool_pre_ping=True, pool_size=2, pool_recycle=3600)
        try:
            async with self._engine.connect() as conn:
                found = (await conn.execute(query, parameters)).fetchmany(ROWS_MAX + 1)
        except (SQLAlchemyError, OSError) as error:
            raise SourceError(f"cannot read BTU's tables: {str(error).splitlines()[0][:300]}") from None
        if len(found) > ROWS_MAX:
            raise SourceError(f"more than {ROWS_MAX} enabled schedules")
        return [{key: _text(value) for key, value in row._mapping.items()} for row in found]

    async def _apply(self, term: Term, store: Store, rows: list[Row], only: str | None, report: Report) -> None:
        mine = owned(term)
        wanted: dict[str, ScheduleDef] = {}
        for row in rows:
            if only is not None and not _truthy(row.enabled):
                continue  # a disabled row asked for: it stops, as a removed one
            try:
                wanted[row.name] = self._schedule(term, row)
            except BadRow as error:
                report.skipped[row.name] = str(error)
        put = [d for name, d in wanted.items() if mine.get(name) != d]
        report.added = [d.name for d in put if d.name not in mine]
        report.changed = [d.name for d in put if d.name in mine]
        report.unchanged = len(wanted) - len(put)
        scope = set(mine) if only is None else {only} & set(mine)
        # a bad row keeps what ran before it went bad: the rest is never stopped by one mistake
        gone = sorted(scope - set(wanted) - set(report.skipped))
        if put:
            await term.put_api(store, RQ_WORKER, put, self.default_tz)
        if gone:
            report.removed = await term.drop_api(store, RQ_WORKER, gone, self.default_tz)

    def _schedule(self, term: Term, row: Row) -> ScheduleDef:
        catalog = term.catalog
        if catalog.from_config(RQ_WORKER, row.name) or _foreign(catalog.from_api(RQ_WORKER, row.name)):
            raise BadRow(f"name: an @rq schedule named {row.name!r} exists that is not from BTU's table")
        return schedule(row, redis=self.settings.redis, default_tz=self.default_tz, fallback_tz=self.settings.time_zone)


def owned(term: Term) -> dict[str, ScheduleDef]:
    """The schedules of ``@rq`` that came from BTU's table, by name."""
    found = {}
    for (worker, name), definition in term.catalog.api_items():
        if worker == RQ_WORKER and definition.rq is not None and MARK in definition.rq.meta:
            found[name] = definition
    return found


def _foreign(definition: ScheduleDef | None) -> bool:
    return definition is not None and (definition.rq is None or MARK not in definition.rq.meta)


def _truthy(value: Any) -> bool:
    return str(value).strip() not in ("0", "", "None", "False")


def _text(value: Any) -> Any:
    """Columns as text (MariaDB's drivers give bytes for some types)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value


def _log(report: Report) -> None:
    for name, why in report.skipped.items():
        log.warning("BTU Task Schedule %s skipped: %s", name, why)
    if report.added or report.changed or report.removed or report.scope != "all":
        log.info(
            "BTU refresh (%s): added %s, changed %s, removed %s, %d unchanged, %d skipped",
            report.scope, report.added or "none", report.changed or "none", report.removed or "none",
            report.unchanged, len(report.skipped),
        )  # fmt: skip
