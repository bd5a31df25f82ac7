"""The shapes the store accepts for writes (reads return the records of barto.model)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import msgspec

from barto.model import ProgramEvent, RunState


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A slot to claim: inserted as a run row unless that (schedule, worker, slot, attempt) exists."""

    schedule: str
    worker: str
    slot: datetime
    attempt: int = 1
    trigger: str = "schedule"
    state: RunState = RunState.PENDING
    reason: str | None = None


class ScheduleRow(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule as stored (the server's live set is written here on start and on reload)."""

    worker: str
    name: str
    calendar: str
    timezone: str
    cmds: list[str]
    env: dict[str, str]
    cwd: str | None
    timeout_seconds: float | None
    enabled: bool
    source: str = "config"


class Accepted(TypedDict):
    """A worker took a run."""

    run_id: int
    at: datetime
    session: str


class Started(TypedDict):
    """A run's first command was spawned."""

    run_id: int
    at: datetime


# Consecutive output lines of one run and stream, read at one time, as the worker sends them:
# (run_id, seq of the first line, stream, ts, texts). The store expands them into rows.
# run, first seq, stream, ts, lines, flags (one per line; empty: every line's are 0)
LineChunk = tuple[int, int, str, datetime, list[str], list[int]]


class Finished(TypedDict):
    """A run's outcome; it overwrites whatever state the run had (a late result wins)."""

    run_id: int
    state: str
    reason: str | None
    exit_code: int | None
    signal: int | None
    lines: int | None  # None: count what was stored
    started_at: datetime
    finished_at: datetime


class Batch(msgspec.Struct, kw_only=True):
    """Worker events applied in one transaction; acknowledged to the worker after the commit."""

    accepted: list[Accepted] = []
    started: list[Started] = []
    lines: list[LineChunk] = []
    finished: list[Finished] = []
    program_events: list[ProgramEvent] = []  # id 0: the store numbers them

    def __bool__(self) -> bool:
        return bool(self.accepted or self.started or self.lines or self.finished or self.program_events)
