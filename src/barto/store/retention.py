"""Retention: which finished runs to delete, by age and by count, failures kept longer.

Runs fall in two classes: failures (``failed``, ``timed_out``, ``lost``: the ones someone may
still need to look at) and the rest of the finished states. Each class has its own maximum age
and its own number of runs kept per schedule; by default failures are kept four times as long
and four times as many. Runs still going are never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from barto.model import FAILED_STATES, FINAL_STATES
from barto.store.tables import runs

_FAILED = sorted(FAILED_STATES)
_OTHER = sorted(FINAL_STATES - FAILED_STATES)


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    """How long and how many finished runs to keep (None: no limit of that kind)."""

    max_age: timedelta | None = None
    max_age_failed: timedelta | None = None
    keep: int | None = None
    keep_failed: int | None = None


async def expired(conn: AsyncConnection, policy: Retention, now: datetime) -> list[int]:
    """Ids of the runs ``policy`` says to delete, oldest first."""
    found: set[int] = set()
    for states, age, keep in (
        (_OTHER, policy.max_age, policy.keep),
        (_FAILED, policy.max_age_failed, policy.keep_failed),
    ):
        if age is not None:
            query = select(runs.c.id).where(runs.c.state.in_(states), runs.c.finished_at < now - age)
            found.update((await conn.execute(query)).scalars())
        if keep is not None:
            found.update(await _beyond(conn, states, keep))
    return sorted(found)


async def _beyond(conn: AsyncConnection, states: Sequence[str], keep: int) -> list[int]:
    """Runs of ``states`` past the newest ``keep`` of their schedule."""
    in_class: ColumnElement[bool] = runs.c.state.in_(list(states))
    crowded = (
        select(runs.c.worker, runs.c.schedule)
        .where(in_class)
        .group_by(runs.c.worker, runs.c.schedule)
        .having(func.count() > keep)
    )
    ids: list[int] = []
    for worker, schedule in (await conn.execute(crowded)).all():
        query = (
            select(runs.c.id)
            .where(and_(in_class, runs.c.worker == worker, runs.c.schedule == schedule))
            .order_by(runs.c.slot.desc(), runs.c.id.desc())
            .offset(keep)
        )
        ids.extend((await conn.execute(query)).scalars())
    return ids
