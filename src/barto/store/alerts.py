"""The alerts table: each event for each alert and channel, recorded before it is sent, retried
until delivered or given up, throttled per subject (docs/alerts.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from barto.store._dialect import insert_ignoring_duplicates
from barto.store.tables import alerts

PROBLEMS = ("failed", "missed", "late", "stuck", "worker_offline", "program_fatal")


class NewAlert(msgspec.Struct, frozen=True, kw_only=True):
    """An event to record for one alert and channel; ``key`` names the event (one row per key)."""

    alert: str
    channel: str
    key: str
    event: str
    subject: str
    payload: str


class AlertRow(NewAlert, frozen=True, kw_only=True):
    """One recorded alert delivery."""

    id: int
    state: str  # pending, sent, throttled, failed (given up)
    attempts: int
    suppressed: int
    created_at: datetime
    next_at: datetime
    sent_at: datetime | None
    error: str | None


class AlertBook:
    """Reads and writes of the alerts table; every write is one short transaction."""

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine) -> None:
        self._engine = engine
        self._reader = reader
        self._insert = insert_ignoring_duplicates(alerts, engine.dialect.name)

    async def record(self, new: Sequence[NewAlert], now: datetime, throttle: dict[str, float]) -> int:
        """Record events not recorded before (by alert, channel and key). One sent less than
        ``throttle[alert]`` seconds ago for the same subject makes it ``throttled``; a sent one
        reports how many were throttled since the last one sent. Returns how many it recorded."""
        rows = []
        sent_now: set[tuple[str, str, str]] = set()  # subjects given a pending row in this batch
        async with self._engine.begin() as conn:
            for item in new:
                same = and_(alerts.c.alert == item.alert, alerts.c.channel == item.channel)
                if (await conn.execute(select(alerts.c.id).where(same, alerts.c.key == item.key))).first():
                    continue
                subject = and_(same, alerts.c.subject == item.subject)
                last = (
                    await conn.execute(
                        select(alerts.c.created_at)
                        .where(subject, alerts.c.state != "throttled")
                        .order_by(alerts.c.created_at.desc())
                        .limit(1)
                    )
                ).scalar()
                quiet = throttle.get(item.alert, 0.0)
                mine = (item.alert, item.channel, item.subject)
                recent = last is not None and (now - last).total_seconds() < quiet
                throttled = item.event != "recovered" and quiet > 0 and (recent or mine in sent_now)
                if not throttled:
                    sent_now.add(mine)
                held = select(func.count()).where(subject, alerts.c.state == "throttled")
                suppressed = 0 if throttled else (await conn.execute(
                    held.where(alerts.c.created_at >= last) if last is not None else held)).scalar_one()  # fmt: skip
                rows.append({**msgspec.structs.asdict(item), "state": "throttled" if throttled else "pending",
                             "attempts": 0, "suppressed": suppressed, "created_at": now, "next_at": now})  # fmt: skip
            if rows:  # ignoring duplicates: another leader may have recorded the same event meanwhile
                await conn.execute(self._insert, rows)
        return len(rows)

    async def due(self, now: datetime, limit: int) -> list[AlertRow]:
        """Pending deliveries whose time has come, oldest first."""
        query = (
            select(alerts)
            .where(alerts.c.state == "pending", alerts.c.next_at <= now)
            .order_by(alerts.c.next_at)
            .limit(limit)
        )
        async with self._reader.connect() as conn:
            return [AlertRow(**row._asdict()) for row in await conn.execute(query)]

    async def delivered(self, alert_id: int, at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(state="sent", sent_at=at, attempts=alerts.c.attempts + 1, error=None)
            )

    async def undelivered(self, alert_id: int, error: str, next_at: datetime, *, give_up: bool) -> None:
        """A failed attempt: try again at ``next_at``, or ``give_up`` (state ``failed``)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(
                    state="failed" if give_up else "pending",
                    next_at=next_at,
                    attempts=alerts.c.attempts + 1,
                    error=error[:2000],
                )
            )

    async def recent(self, limit: int, before: int | None = None) -> list[AlertRow]:
        """The newest rows first (``before``: older than that id)."""
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(alerts.c.id < before)
        async with self._reader.connect() as conn:
            return [AlertRow(**row._asdict()) for row in await conn.execute(query)]

    async def open_problem(self, alert: str, subject: str) -> bool:
        """Whether the newest event recorded for ``subject`` under ``alert`` is a problem (so a
        recovery is news)."""
        query = (
            select(alerts.c.event)
            .where(alerts.c.alert == alert, alerts.c.subject == subject)
            .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
            .limit(1)
        )
        async with self._reader.connect() as conn:
            return (await conn.execute(query)).scalar() in PROBLEMS
