"""Catch-up: what becomes of the slots that passed while no server was running.

Every such slot ends as a run row (invariant 2). The policy decides which of them run late:
``none`` runs none of them, ``latest`` the most recent one, ``all`` every one within the
catch-up window; the others are recorded ``missed`` with reason ``server down``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from barto.config.server import Catchup
from barto.model import Reason, RunState
from barto.store import Claim

Slots = list[datetime]


def split(slots: Slots, policy: Catchup, now: datetime, window: timedelta) -> tuple[Slots, Slots]:
    """(slots to run late, slots to record as missed) under ``policy``."""
    if not slots or policy == "none":
        return [], slots
    if policy == "latest":
        return slots[-1:], slots[:-1]
    oldest = now - window
    return [s for s in slots if s >= oldest], [s for s in slots if s < oldest]


def claims(worker: str, name: str, late: Slots, missed: Slots) -> list[Claim]:
    """Run rows for one schedule's passed slots: pending ones to run late, the rest missed."""
    run = [Claim(schedule=name, worker=worker, slot=slot) for slot in late]
    return run + [
        Claim(schedule=name, worker=worker, slot=slot, state=RunState.MISSED, reason=Reason.SERVER_DOWN)
        for slot in missed
    ]
