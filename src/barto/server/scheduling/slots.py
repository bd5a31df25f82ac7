"""A schedule's next slot, asked of the calendar engine and checked before the server acts on it.

The engine promises that ``next_after(t)`` is later than ``t``. The server does not take that
on trust: an answer at or before ``t`` would make the scheduler claim the same slot again (a
doubled run) or spin on it. Such an answer is logged as an error and the question is asked
again one second later; if the engine still does not move on, the schedule stops firing,
loudly, rather than doing something wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from barto.calendar import Spec

log = logging.getLogger("barto.server.scheduling.slots")

_SKIP = timedelta(seconds=1)


def next_slot(spec: Spec, after: datetime, label: str) -> datetime | None:
    """The first slot of ``spec`` strictly after ``after``, or None; ``label`` names it in logs."""
    slot = spec.next_after(after)
    if slot is None or slot > after:
        return slot
    log.error(
        "calendar bug: %r (%s) answered %s as the slot after %s; skipping to %s",
        str(spec), label, slot.isoformat(), after.isoformat(), (after + _SKIP).isoformat(),
    )  # fmt: skip
    retry = spec.next_after(after + _SKIP)
    if retry is None or retry > after:
        return retry
    log.critical("calendar bug: %r (%s) does not move past %s; it will not fire", str(spec), label, after.isoformat())
    return None


def slots_between(spec: Spec, last: datetime, now: datetime, label: str) -> Iterator[datetime]:
    """The slots of ``spec`` after ``last`` up to and including ``now``, in order."""
    slot = next_slot(spec, last, label)
    while slot is not None and slot <= now:
        yield slot
        slot = next_slot(spec, slot, label)
