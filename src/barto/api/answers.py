"""What each operation answers (besides the domain records of barto.model): one Struct per shape,
so that the server encodes and barto-cli decodes the same thing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from barto.model import Instance, RunRecord, RunState, ScheduleRecord
from barto.protocol import ProgramStatus


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every answer."""


class Member(Instance, frozen=True, kw_only=True):
    """One bartos instance sharing the database, as the answering one sees it."""

    role: Literal["leader", "standby", "gone"]
    seen_seconds_ago: float


class Cluster(Answer, frozen=True, kw_only=True):
    """Who leads, since when, and every instance."""

    instance: str
    role: Literal["leader", "standby"]
    leader: str | None
    lease_seconds: float
    lease_age_seconds: float | None
    renewed_seconds_ago: float | None
    instances: list[Member]


class Info(Answer, frozen=True, kw_only=True):
    """Server version, uptime, store and counters."""

    name: str
    version: str
    python: str
    started_at: datetime
    uptime_seconds: float
    database: str
    config: str
    connected_workers: int
    schedules: int
    counters: dict[str, int]
    cluster: Cluster


class Health(Answer, frozen=True, kw_only=True):
    """The liveness probe's answer."""

    ok: bool


class Forgotten(Answer, frozen=True, kw_only=True):
    """A worker forgotten, and how many of its runs went with it (0 unless asked)."""

    worker: str
    runs_removed: int
    output_lines_removed: int


class Removed(Answer, frozen=True, kw_only=True):
    """A schedule removed."""

    removed: str
    worker: str


class QueryResult(Answer, frozen=True, kw_only=True):
    """Columns and rows of a query; ``truncated``: more rows matched than the cap let through."""

    columns: list[str]
    rows: list[list[str | int | float | bool | None]]
    truncated: bool = False


class UpdatesReport(Answer, frozen=True, kw_only=True):
    """The newest successful run that had updates of ``kind``, and what they were."""

    run: RunRecord | None
    kind: str
    report: Any


class CleanupProgress(Answer, frozen=True, kw_only=True):
    """How far a cleanup is: ``runs`` of ``total`` deleted, with ``output_rows`` lines."""

    total: int
    runs: int
    output_rows: int
    program_events: int = 0
    cutoff: datetime | None = None  # the age limit of successes, for the summary


class ProgramRow(ProgramStatus, frozen=True, kw_only=True):
    """One supervised process of one worker (as its worker reported it), with whether that
    worker is connected."""

    worker: str
    connected: bool


class TailLine(Answer, frozen=True, kw_only=True):
    """One line a process wrote; ``seq`` orders the lines of every process of the server."""

    seq: int
    name: str
    stream: str
    ts: datetime
    text: str


class ControlReply(Answer, frozen=True, kw_only=True):
    """A worker's answer to a relayed control request: ``content`` on success, else ``error``."""

    status: int
    content: Any = None
    error: dict[str, Any] | None = None


class Problem(Answer, frozen=True, kw_only=True):
    """What went wrong: ``code`` stable for scripts, ``kind`` one of barto.errors' kinds."""

    code: str
    kind: str
    message: str


class ErrorBody(Answer, frozen=True, kw_only=True):
    """The body of every error answer."""

    error: Problem


class Slot(Answer, frozen=True, kw_only=True):
    """A run as a schedule's history shows it: which, when, how it ended, how long it ran."""

    id: int
    slot: datetime
    state: RunState
    reason: str | None
    seconds: float | None  # start to end (None: not both)


class Recent(Answer, frozen=True, kw_only=True):
    """What a schedule's recent runs add up to: the share that succeeded of those that ended,
    and the median and 95th percentile of their durations (None: none ended)."""

    runs: list[Slot]
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None


class ScheduleSummary(Answer, frozen=True, kw_only=True):
    """A live schedule with its recent runs, newest first."""

    schedule: ScheduleRecord
    recent: Recent


class Overview(Answer, frozen=True, kw_only=True):
    """A page of the live schedules; ``total``: how many there are in all (with the filter)."""

    total: int
    offset: int
    rows: list[ScheduleSummary]


class Detail(Answer, frozen=True, kw_only=True):
    """One schedule, its next fire times (UTC) and recent runs."""

    schedule: ScheduleRecord
    upcoming: list[datetime]
    recent: Recent


class Lane(Answer, frozen=True, kw_only=True):
    """One worker's slots per minute of a timeline: ``counts[i]`` slots in minute ``i`` from the
    timeline's start; ``missed`` and ``failed`` count those that ended so (the past only)."""

    worker: str
    counts: list[int]
    missed: list[int]
    failed: list[int]


class Fires(Answer, frozen=True, kw_only=True):
    """One schedule's fire times ahead: the first :data:`FIRES_SHOWN` of ``total``; ``capped``:
    counting stopped at the server's cap, so ``total`` is a lower bound. The timeline lists the
    schedules that fire soonest (``schedules`` of them); its lanes count every one."""

    worker: str
    name: str
    times: list[datetime]
    total: int
    capped: bool


FIRES_SHOWN = 10


class TimelineView(Answer, frozen=True, kw_only=True):
    """The fleet's past ``hours`` (from the store) and next ``hours`` (the calendars), per minute:
    ``behind`` lanes count from the minute ``behind_from`` (their last minute is the current
    one), ``ahead`` lanes from ``ahead_from`` (the current minute). ``truncated``: the server
    stopped counting at a cap, so some counts are lower bounds."""

    now: datetime
    hours: int
    behind_from: datetime
    ahead_from: datetime
    behind: list[Lane]
    ahead: list[Lane]
    fires: list[Fires]
    truncated: bool


class Sample(Answer, frozen=True, kw_only=True):
    """One sample of a metric (a histogram has several: its buckets, sum and count)."""

    name: str
    labels: dict[str, str]
    value: float


class Family(Answer, frozen=True, kw_only=True):
    """One metric, as Prometheus knows it: its name, type, help and samples."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    samples: list[Sample]


class Metrics(Answer, frozen=True, kw_only=True):
    """This server's metrics (``/metrics`` renders them in Prometheus's text format)."""

    families: list[Family]


class Delivery(Answer, frozen=True, kw_only=True):
    """One event for one alert and channel: ``pending`` (to be sent, again at ``next_at``),
    ``sent``, ``throttled`` (reported by the next one sent, in its ``suppressed``), or
    ``failed`` (given up). ``error``: why the last attempt failed."""

    id: int
    alert: str
    channel: str
    event: str
    subject: str
    state: str
    attempts: int
    suppressed: int
    created_at: datetime
    next_at: datetime
    sent_at: datetime | None
    error: str | None


class RqQueue(Answer, frozen=True, kw_only=True):
    """One RQ queue of one ``[redis.<name>]``: its jobs waiting, and in each of RQ's registries."""

    redis: str
    queue: str
    queued: int
    started: int
    finished: int
    failed: int
    deferred: int
    scheduled: int
    canceled: int


class RqJob(Answer, frozen=True, kw_only=True):
    """One RQ job, as its registry (or its queue) and its hash say."""

    redis: str
    queue: str
    id: str
    state: str
    func: str | None
    description: str | None
    created_at: datetime | None
    enqueued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


class BtuReport(Answer, frozen=True, kw_only=True):
    """What a read of BTU's table did: schedules added, changed and removed by name, the
    number left as they were, and the rows skipped with why; ``error``: nothing was read."""

    at: datetime
    scope: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    skipped: dict[str, str]
    error: str | None


class BtuStatus(Answer, frozen=True, kw_only=True):
    """``[btu]``: where it reads and listens, its schedules now, and its last full refresh."""

    database: str | None  # the URL without its password
    socket_path: str
    refresh_seconds: float
    schedules: list[str]
    last: BtuReport | None


class BtuQueued(Answer, frozen=True, kw_only=True):
    """A BTU Task enqueued now, outside any schedule (BTU's ``queue-task-now``)."""

    task: str
    redis: str
    queue: str
    job_id: str
