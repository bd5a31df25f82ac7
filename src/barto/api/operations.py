"""Every operation of the server, declared once: its name, the role it needs, what it takes and
what it answers. The server implements them (barto.server.operations), every door serves them
(REST, and the dashboard, 9P, BTU and metrics doors to come), the OpenAPI document and the role
table of docs/security.md are generated from them, and barto-cli decodes their answers.

Roles are ranked: ``read`` may ask, ``operate`` may also act on runs, schedules and programs,
``admin`` may do anything. ``open`` needs no token at all. A ``worker`` token opens only the
worker endpoint, which is not an operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from barto.api import answers as a
from barto.api import requests as r
from barto.model import OutputLine, ProgramEvent, RunRecord, ScheduleRecord, WorkerRecord


class Role(StrEnum):
    """What a caller must be to call an operation."""

    OPEN = "open"
    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"


RANK = {Role.OPEN: 0, Role.READ: 1, Role.OPERATE: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Operation:
    """One verb of the server. ``stream``: the answer is a sequence of ``answer`` items that
    arrive over time (a follow), not one value."""

    name: str
    role: Role
    summary: str
    request: type[r.Request]
    answer: Any
    stream: bool = False


def _op(
    name: str, role: Role, summary: str, request: type[r.Request], answer: Any, *, stream: bool = False
) -> Operation:
    found = Operation(name, role, summary, request, answer, stream)
    OPERATIONS[name] = found
    return found


OPERATIONS: dict[str, Operation] = {}

READ, OPERATE, ADMIN = Role.READ, Role.OPERATE, Role.ADMIN

HEALTH = _op("health", Role.OPEN, "Liveness probe", r.Nothing, a.Health)
INFO = _op("info", READ, "Server version, uptime, store, counters and cluster", r.Nothing, a.Info)
CLIENTS = _op("clients", READ, "Workers seen, and whether connected", r.Nothing, list[WorkerRecord])
FORGET = _op(
    "clients.forget", ADMIN, "Forget a worker that is not connected (with_runs: its runs too)", r.Forget, a.Forgotten
)
WORKER_SCHEDULES = _op("worker.schedules", READ, "Schedules that ran on a worker", r.WorkerRef, list[str])
UPDATES = _op("worker.updates", READ, "Package updates from the newest successful run", r.Updates, a.UpdatesReport)

SCHEDULES = _op(
    "schedules.list", READ, "Live schedules with next fire times (of one worker)", r.ScheduleList, list[ScheduleRecord]
)
ADD = _op("schedules.add", ADMIN, "Add or replace an API schedule", r.AddSchedule, ScheduleRecord)
REMOVE = _op("schedules.remove", ADMIN, "Remove an API schedule", r.ScheduleRef, a.Removed)
ENABLE = _op("schedules.enable", ADMIN, "Let an API schedule fire", r.ScheduleRef, ScheduleRecord)
COMMANDS = _op("schedules.commands", ADMIN, "Change the commands of an API schedule", r.Commands, ScheduleRecord)
DISABLE = _op("schedules.disable", ADMIN, "Keep an API schedule listed but never firing", r.ScheduleRef, ScheduleRecord)
RUN_NOW = _op("schedules.run", OPERATE, "Run a schedule now (force: even while one goes on)", r.RunNow, RunRecord)
BACKFILL = _op("schedules.backfill", OPERATE, "Runs for past slots that did not succeed", r.Backfill, list[RunRecord])
PAUSE = _op("schedules.pause", OPERATE, "Stop firing a schedule until resumed", r.ScheduleRef, ScheduleRecord)
RESUME = _op("schedules.resume", OPERATE, "Fire a paused schedule again", r.ScheduleRef, ScheduleRecord)
OVERVIEW = _op("schedules.overview", READ, "A page of schedules, each with its recent runs", r.Overview, a.Overview)
DETAIL = _op("schedules.get", READ, "One schedule: next fire times and recent runs", r.ScheduleDetail, a.Detail)
TIMELINE = _op("timeline", READ, "Slots per worker and minute, past and ahead", r.Timeline, a.TimelineView)

RUNS = _op("runs.list", READ, "Runs, newest first", r.Runs, list[RunRecord])
RUN = _op("runs.get", READ, "One run", r.RunRef, RunRecord)
OUTPUT = _op("runs.output", READ, "A run's output lines", r.Output, list[OutputLine])
FOLLOW = _op("runs.follow", READ, "A run's output lines, live until it ends", r.Output, OutputLine, stream=True)
CANCEL = _op("runs.cancel", OPERATE, "Stop a run (stop signal, wait, KILL)", r.RunRef, RunRecord)
FAILED = _op("runs.failed", READ, "Failed, timed-out and lost runs", r.Failed, list[RunRecord])

CLEANUP = _op("cleanup", ADMIN, "Delete old runs and output", r.Cleanup, a.CleanupProgress)
CLEANUP_PROGRESS = _op(
    "cleanup.progress", ADMIN, "Cleanup, reporting each batch", r.Cleanup, a.CleanupProgress, stream=True
)
QUERY = _op("query", READ, "One read-only SELECT", r.Query, a.QueryResult)
ALERTS = _op("alerts.list", READ, "Recent alert deliveries and failures", r.Alerts, list[a.Delivery])
ALERT_TEST = _op(
    "alerts.test", ADMIN, "Send a test event through an alert's channels now", r.AlertRef, list[a.Delivery]
)
RQ_QUEUES = _op("rq.queues", READ, "RQ queues of every [redis], with their jobs by state", r.Nothing, list[a.RqQueue])
RQ_JOBS = _op("rq.jobs", READ, "RQ jobs by queue and state (BTU's list-jobs)", r.RqJobs, list[a.RqJob])
BTU_STATUS = _op("btu.status", READ, "BTU's table: what it gave and its last refresh", r.Nothing, a.BtuStatus)
BTU_REFRESH = _op("btu.refresh", ADMIN, "Read BTU's table now (all rows, or one)", r.BtuRefresh, a.BtuReport)
BTU_CANCEL = _op("btu.cancel", ADMIN, "Stop a schedule of BTU's table until it is read again", r.BtuRef, a.Removed)
BTU_QUEUE_TASK = _op(
    "btu.queue_task", OPERATE, "Enqueue a BTU Task now, outside its schedules (queue-task-now)", r.BtuRef, a.BtuQueued
)
METRICS = _op("metrics", READ, "This server's metrics (Prometheus text at /metrics)", r.Nothing, a.Metrics)

PROGRAMS = _op("programs.list", READ, "Supervised processes of every worker", r.Programs, list[a.ProgramRow])
EVENTS = _op("programs.events", READ, "Program state changes", r.ProgramEvents, list[ProgramEvent])
TAIL = _op("programs.tail", READ, "Recent output of a process", r.Tail, list[a.TailLine])
TAIL_FOLLOW = _op("programs.follow", READ, "Output of a process, live", r.Tail, a.TailLine, stream=True)

# The supervisor's own commands, relayed to a worker: one operation each, so each has its role.
CONTROL_ROLES = {
    "status": READ,
    "pid": READ,
    "tail": READ,
    "start": OPERATE,
    "stop": OPERATE,
    "restart": OPERATE,
    "signal": OPERATE,
    "reload": ADMIN,
    "shutdown": ADMIN,
}
CONTROL = {
    command: _op(
        f"programs.ctl.{command}", role, f"Relay {command!r} to a worker's supervisor", r.Control, a.ControlReply
    )
    for command, role in CONTROL_ROLES.items()
}
