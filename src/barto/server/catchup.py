"""Catch-up: what becomes of the slots that passed while no server was running.

Every such slot ends as a run row (invariant 2). The policy decides which of them run late:
``none`` runs none of them, ``latest`` the most recent one, ``all`` every one within the
catch-up window; the others are recorded ``missed`` with reason ``server down``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from barto.calendar import Spec
from barto.config.server import Catchup


def passed(spec: Spec, last: datetime, now: datetime) -> Iterator[datetime]:
    """The slots of ``spec`` after ``last`` up to and including ``now``, in order."""
    slot = spec.next_after(last)
    while slot is not None and slot <= now:
        yield slot
        slot = spec.next_after(slot)


def split(
    slots: list[datetime], policy: Catchup, now: datetime, window: timedelta
) -> tuple[list[datetime], list[datetime]]:
    """(slots to run late, slots to record as missed) under ``policy``."""
    if not slots or policy == "none":
        return [], slots
    if policy == "latest":
        return slots[-1:], slots[:-1]
    oldest = now - window
    return [s for s in slots if s >= oldest], [s for s in slots if s < oldest]
