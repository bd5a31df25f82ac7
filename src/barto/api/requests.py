"""What each operation takes. Every field is typed and bounded here, so that a door decoding a
request into one of these has already refused what is out of range (``inf``, ids past a BIGINT,
negative counts, NUL in a lookup name); a door never validates on its own.

Names that *create* something (a schedule added through the API) are checked against
:mod:`barto.rules` by the operation, with the rule in the message. Names that only *look
something up* take any text without NUL up to :data:`LOOKUP_MAX`: a store may hold names from
before the rules (grandfathered), and they must stay readable and removable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from barto.config.server import ScheduleDef
from barto.model import RunState
from barto.rules import ID_MAX

LOOKUP_MAX = 1024
Lookup = Annotated[str, msgspec.Meta(min_length=1, max_length=LOOKUP_MAX, pattern=r"^[^\x00]+$")]
RunId = Annotated[int, msgspec.Meta(ge=1, le=ID_MAX)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=ID_MAX)]
Aware = Annotated[datetime, msgspec.Meta(tz=True)]
UpdatesKind = Literal["garuda", "pacman", "cachyos", "apt"]


class Request(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request: unknown fields are refused (a typo is an error, not a default)."""


class Nothing(Request, frozen=True, kw_only=True):
    """An operation that takes nothing."""


class WorkerRef(Request, frozen=True, kw_only=True):
    """One worker, by name."""

    worker: Lookup


class ScheduleList(Request, frozen=True, kw_only=True):
    """The live schedules (of one worker)."""

    worker: Lookup | None = None


class Forget(WorkerRef, frozen=True, kw_only=True):
    """A worker to forget; ``with_runs``: its runs and their output too."""

    with_runs: bool = False


class ScheduleRef(Request, frozen=True, kw_only=True):
    """One schedule of one worker."""

    worker: Lookup
    name: Lookup


class RunNow(ScheduleRef, frozen=True, kw_only=True):
    """Run a schedule now; ``force`` runs it even while the previous run goes on."""

    force: bool = False


class AddSchedule(Request, frozen=True, kw_only=True):
    """Add (or replace) a schedule of ``worker`` kept by the server (source ``api``)."""

    worker: Lookup
    schedule: ScheduleDef
    replace: bool = True  # false: a schedule of that name already there is a conflict


class Commands(ScheduleRef, frozen=True, kw_only=True):
    """New commands for an API schedule (everything else about it stays)."""

    cmds: list[str]


class Backfill(ScheduleRef, frozen=True, kw_only=True):
    """Runs for the past slots in [from, to] (RFC 3339, inclusive) that have not succeeded."""

    from_: Aware = msgspec.field(name="from")
    to: Aware


class RunRef(Request, frozen=True, kw_only=True):
    """One run, by id."""

    run_id: RunId


class Runs(Request, frozen=True, kw_only=True):
    """Runs, newest first, filtered by schedule, worker, states and slot time (``since`` and
    ``until`` inclusive). ``before``: the page after the one that ended with that run id (the
    runs older than it, in the same order), so that paging costs the same on the thousandth
    page as on the first."""

    schedule: Lookup | None = None
    worker: Lookup | None = None
    state: list[RunState] = msgspec.field(default_factory=list)
    since: Aware | None = None
    until: Aware | None = None
    before: RunId | None = None
    limit: Limit = 50


class Output(RunRef, frozen=True, kw_only=True):
    """A run's output lines after line ``after`` (at most ``limit``; a follow ignores it)."""

    after: Seq = 0
    limit: Limit = 100_000


class Failed(Request, frozen=True, kw_only=True):
    """Runs that failed, timed out or were lost, newest first (``before``: as for runs)."""

    before: RunId | None = None
    limit: Limit = 1000


class Updates(WorkerRef, frozen=True, kw_only=True):
    """barto's ``updates``: the newest successful run of a worker with updates of ``kind``."""

    kind: UpdatesKind


class Cleanup(Request, frozen=True, kw_only=True):
    """Apply the retention policy now, or delete what finished more than ``older_than_days`` ago."""

    older_than_days: Annotated[float, msgspec.Meta(ge=0, le=36_500)] | None = None


class Query(Request, frozen=True, kw_only=True):
    """One read-only SELECT."""

    sql: Annotated[str, msgspec.Meta(max_length=100_000)]


class Programs(Request, frozen=True, kw_only=True):
    """Every supervised process (of one worker)."""

    worker: Lookup | None = None


class ProgramEvents(Request, frozen=True, kw_only=True):
    """Program state changes, oldest first: the newest ``limit``."""

    worker: Lookup | None = None
    name: Lookup | None = None
    limit: Limit = 100


class Tail(Request, frozen=True, kw_only=True):
    """The last lines of a supervised process after line ``after``."""

    worker: Lookup
    name: Lookup
    after: Seq = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class Control(WorkerRef, frozen=True, kw_only=True):
    """A control request relayed to a worker's supervisor (no ``name``: every program)."""

    name: Lookup | None = None
    signal: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    bytes: Annotated[int, msgspec.Meta(ge=0, le=16 * 1024 * 1024)] | None = None


class Overview(Request, frozen=True, kw_only=True):
    """A page of the live schedules (by worker, then name), each with its last ``recent`` runs."""

    worker: Lookup | None = None
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    recent: Annotated[int, msgspec.Meta(ge=1, le=100)] = 30


class ScheduleDetail(ScheduleRef, frozen=True, kw_only=True):
    """One schedule: its next ``upcoming`` fire times and last ``recent`` runs."""

    upcoming: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    recent: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class Timeline(Request, frozen=True, kw_only=True):
    """The fleet's slots per minute, ``hours`` back (from the store) and ahead (the calendars)."""

    hours: Annotated[int, msgspec.Meta(ge=1, le=48)] = 24
    schedules: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 100  # listed with their fires: the soonest


class Alerts(Request, frozen=True, kw_only=True):
    """Recent alert deliveries, newest first (``before``: older than that id)."""

    before: RunId | None = None
    limit: Limit = 100


class AlertRef(Request, frozen=True, kw_only=True):
    """One ``[alerts.<name>]``."""

    name: Lookup


RqState = Literal["queued", "started", "finished", "failed", "deferred", "scheduled", "canceled"]


class RqJobs(Request, frozen=True, kw_only=True):
    """RQ's jobs of every ``[redis]`` (or one), by queue and state (all states when none)."""

    redis: Lookup | None = None
    queue: Lookup | None = None
    state: RqState | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class BtuRefresh(Request, frozen=True, kw_only=True):
    """Read BTU's table now: every row, or the one Task Schedule ``schedule``."""

    schedule: Lookup | None = None


class BtuRef(Request, frozen=True, kw_only=True):
    """One BTU Task Schedule (``TS-000001``) or Task (``BTU-00001``), by name."""

    name: Lookup
