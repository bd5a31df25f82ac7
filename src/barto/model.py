"""Domain records shared by the server, the worker and the CLI.

Kept free of I/O and of every other barto package so that all three programs can agree on the
vocabulary (run states, streams) without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import msgspec


class RunState(StrEnum):
    """Where a run is in its life. Every slot of every schedule ends as a run in one of these."""

    PENDING = "pending"  # claimed in the database, not yet acknowledged by the worker
    DISPATCHED = "dispatched"  # the worker acknowledged it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"
    MISSED = "missed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.TIMED_OUT,
        RunState.LOST,
        RunState.MISSED,
        RunState.SKIPPED,
        RunState.CANCELLED,
    }
)

# States of runs that did not succeed and that someone should look at (`barto-cli failed`).
FAILED_STATES = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})


class StopReason(StrEnum):
    """Why a worker stopped a run before its commands ended on their own."""

    TIMEOUT = "timeout"  # the schedule's timeout passed: state timed_out
    CANCEL = "cancel"  # barto-cli cancel: state cancelled
    SHUTDOWN = "shutdown"  # the worker was stopped: state cancelled
    RESTART = "restart"  # the worker died while the run was going and found it on restart: state lost


class Reason(StrEnum):
    """Why a run ended as it did, when its state alone does not say (``runs.reason``). The
    values are what users see and match on; a worker's own error text (a command that could not
    start) or ``killed by signal N`` are stored as they are, beside these."""

    SERVER_DOWN = "server down"  # missed: its slot passed while no leader ran
    WORKER_OFFLINE = "worker offline"  # missed: its worker was not connected (or its queue time passed)
    WORKER_GONE = "worker did not come back"  # lost: its worker left while it ran and stayed away
    OVERLAP = "overlap"  # skipped: the previous run of its schedule was still going
    CANCELLED = "cancelled"  # cancelled: barto-cli cancel
    TIMEOUT = "timeout"  # timed_out: the schedule's timeout passed
    WORKER_SHUTDOWN = "worker shutdown"  # cancelled: its worker was stopped
    WORKER_RESTARTED = "worker restarted while the run was going"  # lost
    REDIS_UNAVAILABLE = "redis unavailable"  # missed: an RQ run's Redis could not be reached in time
    RQ_JOB_GONE = "the RQ job is gone"  # failed: its job left Redis before it ended (deleted, expired)


class Stream(StrEnum):
    """Which pipe an output line came from; the values are barto's `kind` column."""

    STDOUT = "stdout"
    STDERR = "stderr"


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One run: a slot of a schedule on a worker (or a manual run), and what became of it."""

    id: int
    uuid: str
    schedule: str
    worker: str
    slot: datetime
    attempt: int
    trigger: str  # "schedule" or "manual"
    state: RunState
    reason: str | None
    exit_code: int | None
    signal: int | None
    lines: int
    created_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


def run_seconds(run: RunRecord) -> float | None:
    """How long a run ran, in seconds (None: it has not both started and ended)."""
    if run.started_at is None or run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of ``ordered`` (sorted ascending; None if empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# Flags of an output line (the protocol's ``Output.flags``, the store's ``run_output.flags``).
CONTINUES = 1  # a piece of a line longer than the worker's split size: the next line continues it
ESCAPED = 2  # ``data`` is escaped: the line held NUL or bytes that are not UTF-8 (see line_bytes)


class OutputLine(msgspec.Struct, frozen=True, kw_only=True):
    """One stored output line of a run. ``continues``: the next line is the rest of this one
    (a line longer than the split size travels in pieces). ``escaped``: the original bytes
    held NUL or invalid UTF-8, and ``data`` is their escaped text (:func:`line_bytes`)."""

    seq: int
    stream: Stream
    ts: datetime
    data: str
    continues: bool = False
    escaped: bool = False


def escape_bytes(data: bytes) -> str:
    r"""Text for bytes that are not plain UTF-8 text: ``\\`` for a backslash, ``\xHH`` for NUL
    and for each byte that is not part of valid UTF-8; everything else as it is."""
    return data.replace(b"\\", b"\\\\").replace(b"\0", b"\\x00").decode("utf-8", "backslashreplace")


def line_bytes(line: OutputLine) -> bytes:
    """The bytes the command wrote for ``line`` (without its newline)."""
    if not line.escaped:
        return line.data.encode()
    found, text, i = bytearray(), line.data, 0
    while (j := text.find("\\", i)) >= 0:
        found += text[i:j].encode()
        if text.startswith("\\\\", j):
            found += b"\\"
            i = j + 2
        else:
            found.append(int(text[j + 2 : j + 4], 16))
            i = j + 4
    return bytes(found + text[i:].encode())


class WorkerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A worker the server has seen, and whether it is connected now."""

    name: str
    connected: bool
    version: str
    host: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    address: str | None = None  # the live session's peer address (None: not connected here)
    backlog: int | None = None  # its outbox's events not yet acknowledged, at its last heartbeat


class ProgramEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A supervised process changed state on a worker (``barto-cli programs events``).
    ``suppressed``: its transitions left out just before this one (the worker bounds them).
    ``id`` is the store's (0 until stored)."""

    id: int = 0
    worker: str
    name: str
    program: str
    state: str
    previous: str
    at: datetime
    pid: int | None
    description: str
    exit_status: int | None
    suppressed: int


class ScheduleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule as the server runs it, with its next fire time (None: disabled or never)."""

    worker: str
    name: str
    calendar: str
    normalized: str
    timezone: str
    cmds: list[str]
    enabled: bool
    source: str
    next_fire: datetime | None
    paused: bool = False


class Instance(msgspec.Struct, frozen=True, kw_only=True):
    """One bartos process sharing the database (``barto-cli info`` lists them)."""

    id: str
    name: str
    url: str
    pid: int
    version: str
    started_at: datetime
    seen_at: datetime
